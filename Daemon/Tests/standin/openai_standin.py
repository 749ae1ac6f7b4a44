"""An independent stand-in for the Moonshot Kimi and Zhipu GLM chat-completions APIs.

Written from the providers' documented OpenAI-compatible HTTP/JSON format, not from our Swift
provider-sim, and served by aiohttp with aiohttp's ordinary server limits, so that what a real
gateway refuses is refused here too. The documented facts it follows:

- The endpoint is `POST {base}/chat/completions` (Kimi: base https://api.moonshot.ai/v1, GLM:
  https://open.bigmodel.cn/api/paas/v4); any path ending in /chat/completions is accepted.
- `Authorization: Bearer <key>`; otherwise 401 with an OpenAI-style error object.
- A JSON body with `model` (a known model id) and `messages` (a non-empty array of {role,
  content}); optional `temperature` (both providers document the range [0, 1]), `max_tokens`
  (a positive integer), `stream` (a boolean) and `stream_options`. Errors are
  {"error": {"message", "type"}} objects.
- A reply is a `chat.completion` object with `choices[0].message`, `finish_reason` and `usage`.
  With `"stream": true` it is `text/event-stream`: `data: <chat.completion.chunk>` events with
  `choices[0].delta`, a last chunk carrying `finish_reason` and `usage` (GLM always sends usage in
  its last chunk; Moonshot/OpenAI send it with `stream_options.include_usage`), then `data: [DONE]`.
- Where usage goes in a stream follows each provider's documentation: GLM (a path under
  /api/paas/) sends `usage` at the top level of its last chunk; Moonshot sends it in
  `choices[0].usage` of its last chunk, and with `stream_options.include_usage` also OpenAI's
  extra chunk with empty `choices` and a top-level `usage`.
- Header limits are aiohttp's defaults (a request line or header field over 8190 bytes is refused
  by aiohttp itself, as real gateways refuse headers over about 8 KiB); they are not raised here.

The reply never echoes the client's text. Control paths, not part of the provider API:
`GET /_standin/requests` lists every recorded request (headers, header bytes, body bytes, status;
most recent last), `DELETE /_standin/requests` clears the list. With `--record FILE` each record
is also appended to FILE as a JSON line before the response is sent.

Stream shaping, for tests of slow, stalled and broken streams: --stream-chunks N splits the reply
into N deltas, --stream-delay-ms waits between them, --stream-gap-after K --stream-gap-ms T adds
one long pause after delta K, --stream-fail-after K sends an `error` event after K deltas and
ends the stream, --answer-bytes N makes the reply N bytes long. With --record-streams FILE, each
stream's end is appended to FILE as a JSON line: {"sent": deltas written, "outcome":
"complete" | "client_closed" | "failed", "ended_at": Unix time}; a client that closes the
connection is noticed at the next write (within one --stream-delay-ms).

Usage: openai_standin.py --api-key KEY [--host 127.0.0.1] [--port 0] [--models a,b] [--record FILE]
Prints exactly one line, `LISTENING <port>`, once bound; exits cleanly on SIGTERM.
"""
import argparse
import asyncio
import json
import math
import signal
import socket
import time
import uuid

from aiohttp import web

DEFAULT_MODELS = ("kimi-k2-0905-preview,kimi-k2-0711-preview,kimi-k2-turbo-preview,moonshot-v1-8k,"
                  "moonshot-v1-32k,moonshot-v1-128k,kimi-latest,kimi-thinking-preview,glm-4.6,glm-4.5,"
                  "glm-4.5-flash,glm-4.5-air,glm-4.5v")
ROLES = {"system", "user", "assistant", "tool"}


def error(status, message, kind="invalid_request_error"):
    return status, {"error": {"message": message, "type": kind}}


def content_bytes(content):
    """UTF-8 bytes of a message's text: a string, or the text parts of a multimodal array."""
    if isinstance(content, str):
        return len(content.encode())
    return sum(len(part.get("text", "").encode()) for part in content if isinstance(part, dict))


def validate(request, raw, config):
    """Returns (status, error body) or (200, parsed request body)."""
    if request.headers.get("Authorization", "") != f"Bearer {config.api_key}":
        return error(401, "Invalid Authentication", "invalid_authentication_error")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        return error(400, f"Invalid request: body is not valid JSON ({exc})")
    if not isinstance(body, dict):
        return error(400, "Invalid request: body must be a JSON object")
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str):
        return error(400, "Invalid request: `model` is required and must be a string")
    if model not in config.models:
        return error(400, f"Not found the model {model} or Permission denied")
    if not isinstance(messages, list) or not messages:
        return error(400, "Invalid request: `messages` is required and must be a non-empty array")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return error(400, f"Invalid request: messages[{index}].role must be one of {sorted(ROLES)}")
        if not isinstance(message.get("content"), (str, list)):
            return error(400, f"Invalid request: messages[{index}].content must be a string or an array")
    temperature = body.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
                                    or not 0 <= temperature <= 1):
        return error(400, "Invalid request: `temperature` must be a number in [0, 1]")
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        return error(400, "Invalid request: `max_tokens` must be a positive integer")
    if not isinstance(body.get("stream", False), bool):
        return error(400, "Invalid request: `stream` must be a boolean")
    if not isinstance(body.get("stream_options", {}), dict):
        return error(400, "Invalid request: `stream_options` must be an object")
    return 200, body


async def chat(request):
    config = request.app["config"]
    raw_headers = request.raw_headers
    entry = {
        "method": request.method,
        "path": request.path,
        "headers": {},
        "header_bytes": sum(len(name) + len(value) + 4 for name, value in raw_headers),  # "name: value\r\n"
        "body_bytes": None,
    }
    for name, value in raw_headers:
        key = name.decode("latin-1")
        entry["headers"][key] = ", ".join(filter(None, [entry["headers"].get(key), value.decode("latin-1")]))
    try:
        raw = await request.read()
        entry["body_bytes"] = len(raw)
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            status, payload = error(404, f"No route for {request.method} {request.path}", "not_found_error")
        else:
            status, payload = validate(request, raw, config)
    except web.HTTPRequestEntityTooLarge:
        status, payload = error(413, f"Request body larger than {request.client_max_size} bytes")
    entry["status"] = status
    request.app["requests"].append(entry)
    if config.record:
        with open(config.record, "a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")
    if status != 200:
        return web.json_response(payload, status=status)

    messages = payload["messages"]
    size = sum(content_bytes(message["content"]) for message in messages)
    reply = f"Stand-in reply to {len(messages)} messages, {size} bytes of content"
    if config.answer_bytes:
        reply = (reply + " " + "lorem ipsum dolor sit amet " * (config.answer_bytes // 27 + 1))[:config.answer_bytes]
    prompt_tokens = max(1, math.ceil(size / 4))
    completion_tokens = math.ceil(len(reply) / 4)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens}
    common = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": payload["model"]}
    if not payload.get("stream", False):
        return web.json_response({**common, "object": "chat.completion", "usage": usage, "choices": [
            {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}]})

    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    glm = "/api/paas/" in request.path
    include_usage = bool(payload.get("stream_options", {}).get("include_usage"))
    sent, outcome = 0, "complete"

    async def send(data):
        # aiohttp drops the transport when the peer closes; a write then fails.
        if request.transport is None or request.transport.is_closing():
            raise ConnectionResetError("client closed the connection")
        await response.write(f"data: {data}\n\n".encode())

    if config.stream_chunks:
        size = max(1, math.ceil(len(reply) / config.stream_chunks))
        pieces = [reply[i:i + size] for i in range(0, len(reply), size)]
    else:
        words = reply.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
    deltas = [{"role": "assistant", "content": ""}] + [{"content": piece} for piece in pieces]
    try:
        for index, delta in enumerate(deltas):
            if index > 1 and config.stream_delay_ms:
                await asyncio.sleep(config.stream_delay_ms / 1000)
            if config.stream_gap_ms and index == config.stream_gap_after + 1:
                await asyncio.sleep(config.stream_gap_ms / 1000)
            if config.stream_fail_after is not None and index > config.stream_fail_after:
                outcome = "failed"
                await send(json.dumps({"error": {"message": "The service is overloaded; generation stopped",
                                                 "type": "server_error"}}))
                break
            await send(json.dumps({**common, "object": "chat.completion.chunk",
                                   "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}))
            sent += 1 if delta.get("content") else 0
        if outcome == "complete":
            last = {"index": 0, "delta": {}, "finish_reason": "stop"}
            if glm:
                await send(json.dumps({**common, "object": "chat.completion.chunk", "usage": usage, "choices": [last]}))
            else:
                await send(json.dumps({**common, "object": "chat.completion.chunk", "choices": [{**last, "usage": usage}]}))
                if include_usage:
                    await send(json.dumps({**common, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
            await send("[DONE]")
            await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        outcome = "client_closed"
    except asyncio.CancelledError:
        outcome = "client_closed"
        raise
    finally:
        if config.record_streams:
            with open(config.record_streams, "a", encoding="utf-8") as file:
                file.write(json.dumps({"sent": sent, "outcome": outcome, "ended_at": time.time()}) + "\n")
    return response


async def list_requests(request):
    return web.json_response(request.app["requests"])


async def clear_requests(request):
    request.app["requests"].clear()
    return web.json_response({"cleared": True})


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--record", help="also append each request's record to this JSON-lines file")
    parser.add_argument("--record-streams", help="append each stream's end to this JSON-lines file")
    parser.add_argument("--stream-chunks", type=int, default=0, help="deltas per streamed reply (default: one per word)")
    parser.add_argument("--stream-delay-ms", type=float, default=0)
    parser.add_argument("--stream-gap-after", type=int, default=0)
    parser.add_argument("--stream-gap-ms", type=float, default=0)
    parser.add_argument("--stream-fail-after", type=int, default=None)
    parser.add_argument("--answer-bytes", type=int, default=0)
    config = parser.parse_args()
    config.models = {name.strip() for name in config.models.split(",") if name.strip()}

    # Real providers accept long contexts (a 200 KB prompt is ordinary), so the body limit is
    # raised from aiohttp's default 1 MiB to 4 MiB. The header limits stay aiohttp's defaults.
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app["config"], app["requests"] = config, []
    app.router.add_get("/_standin/requests", list_requests)
    app.router.add_delete("/_standin/requests", clear_requests)
    app.router.add_route("*", "/{tail:.*}", chat)

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    print(f"LISTENING {sock.getsockname()[1]}", flush=True)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
