// libcurl transport for the OTLP/HTTP exporter.
//
// libcurl's option setter is variadic and cannot be called from Swift, so the exporter talks to
// it through this file. One easy handle per exporter keeps connections alive.

#include "CTracelineHTTP.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int64_t traceline_monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void traceline_store_i64(int64_t *target, int64_t value) { __atomic_store_n(target, value, __ATOMIC_RELAXED); }
int64_t traceline_load_i64(const int64_t *source) { return __atomic_load_n(source, __ATOMIC_RELAXED); }

static int check_abort(void *context, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal; (void)dlnow; (void)ultotal; (void)ulnow;
    const int64_t *abort_at = context;
    int64_t deadline = __atomic_load_n(abort_at, __ATOMIC_RELAXED);
    return deadline != 0 && traceline_monotonic_ms() >= deadline;  // non-zero aborts the transfer
}

struct traceline_http_client {
    CURL *curl;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

traceline_http_client *traceline_http_client_create(void) {
    pthread_once(&global_once, global_init);
    traceline_http_client *client = calloc(1, sizeof(*client));
    if (!client) return NULL;
    client->curl = curl_easy_init();
    if (!client->curl) {
        free(client);
        return NULL;
    }
    return client;
}

void traceline_http_client_destroy(traceline_http_client *client) {
    if (!client) return;
    curl_easy_cleanup(client->curl);
    free(client);
}

typedef struct {
    traceline_http_response *response;
    size_t capacity;
    size_t limit;
} body_sink;

static size_t write_body(char *data, size_t size, size_t count, void *context) {
    body_sink *sink = context;
    size_t length = size * count;
    traceline_http_response *response = sink->response;
    if (response->body_length + length > sink->limit) {
        response->body_too_large = 1;
        return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
    }
    if (response->body_length + length > sink->capacity) {
        size_t capacity = sink->capacity ? sink->capacity * 2 : 1024;
        while (capacity < response->body_length + length) capacity *= 2;
        uint8_t *grown = realloc(response->body, capacity);
        if (!grown) return 0;
        response->body = grown;
        sink->capacity = capacity;
    }
    memcpy(response->body + response->body_length, data, length);
    response->body_length += length;
    return length;
}

static void copy_header_value(char *target, size_t target_size, const char *line, size_t length,
                              size_t name_length) {
    const char *value = line + name_length;
    size_t remaining = length - name_length;
    while (remaining > 0 && (*value == ' ' || *value == '\t')) { value++; remaining--; }
    while (remaining > 0 && (value[remaining - 1] == '\r' || value[remaining - 1] == '\n' ||
                             value[remaining - 1] == ' ' || value[remaining - 1] == '\t')) remaining--;
    if (remaining >= target_size) remaining = target_size - 1;
    memcpy(target, value, remaining);
    target[remaining] = 0;
}

static size_t read_header(char *line, size_t size, size_t count, void *context) {
    traceline_http_response *response = context;
    size_t length = size * count;
    static const char retry_after[] = "retry-after:";
    static const char content_type[] = "content-type:";
    if (length >= sizeof(retry_after) - 1 && strncasecmp(line, retry_after, sizeof(retry_after) - 1) == 0) {
        copy_header_value(response->retry_after, sizeof(response->retry_after), line, length, sizeof(retry_after) - 1);
    } else if (length >= sizeof(content_type) - 1 && strncasecmp(line, content_type, sizeof(content_type) - 1) == 0) {
        copy_header_value(response->content_type, sizeof(response->content_type), line, length, sizeof(content_type) - 1);
    } else if (length >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        // A new response (for example after 100 Continue): forget the previous one's headers.
        response->retry_after[0] = 0;
        response->content_type[0] = 0;
    }
    return length;
}

int traceline_http_post(traceline_http_client *client, const traceline_http_request *request,
                        traceline_http_response *response) {
    memset(response, 0, sizeof(*response));
    CURL *curl = client->curl;
    curl_easy_reset(curl);  // keeps the connection cache; clears per-request options

    struct curl_slist *headers = NULL;
    for (size_t index = 0; index < request->header_count; index++) {
        struct curl_slist *appended = curl_slist_append(headers, request->headers[index]);
        if (!appended) {
            curl_slist_free_all(headers);
            response->transport_error = CURLE_OUT_OF_MEMORY;
            strcpy(response->error, "out of memory building headers");
            return -1;
        }
        headers = appended;
    }
    // No "Expect: 100-continue" round trip before the body.
    headers = curl_slist_append(headers, "Expect:");

    body_sink sink = {response, 0, request->max_response_bytes ? request->max_response_bytes : (4u << 20)};
    char error[CURL_ERROR_SIZE] = {0};

    curl_easy_setopt(curl, CURLOPT_URL, request->url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)request->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_length);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, response);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, request->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, request->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (request->user_agent) curl_easy_setopt(curl, CURLOPT_USERAGENT, request->user_agent);
    if (request->ca_file) curl_easy_setopt(curl, CURLOPT_CAINFO, request->ca_file);
    if (request->client_certificate) curl_easy_setopt(curl, CURLOPT_SSLCERT, request->client_certificate);
    if (request->client_key) curl_easy_setopt(curl, CURLOPT_SSLKEY, request->client_key);
    if (request->abort_at_monotonic_ms) {
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, check_abort);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)request->abort_at_monotonic_ms);
    }

    CURLcode code = curl_easy_perform(curl);
    curl_slist_free_all(headers);

    curl_off_t uploaded = 0;
    curl_easy_getinfo(curl, CURLINFO_SIZE_UPLOAD_T, &uploaded);
    response->bytes_uploaded = (size_t)uploaded;

    if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && response->body_too_large)) {
        response->transport_error = (int)code;
        response->timed_out = code == CURLE_OPERATION_TIMEDOUT;
        const char *message = error[0] ? error : curl_easy_strerror(code);
        strncpy(response->error, message, sizeof(response->error) - 1);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        response->status = status;
        return -1;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response->status);
    return 0;
}

void traceline_http_response_free(traceline_http_response *response) {
    free(response->body);
    response->body = NULL;
    response->body_length = 0;
}
