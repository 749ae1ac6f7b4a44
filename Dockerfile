# The exai-daemon, built with the same commands as the README's (Scripts/setup.sh for the
# system packages, then a release build), run as a non-root user.
FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY . .
RUN Scripts/setup.sh --build-only \
 && swift build -c release --package-path Daemon --product exai-daemon \
 && swift build -c release --package-path Daemon --product exai-client \
 && bin="$(swift build -c release --package-path Daemon --show-bin-path)" \
 && mkdir /out && cp "$bin/exai-daemon" "$bin/exai-client" /out/

FROM swift:6.3-bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libprotobuf-c1 libcurl4 zlib1g libhiredis0.14 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /nonexistent --shell /usr/sbin/nologin exai
COPY --from=build /out/ /usr/local/bin/
USER exai
EXPOSE 8079 8000
ENV EXAI_WS_HOST=0.0.0.0
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8079/livez || exit 1
ENTRYPOINT ["exai-daemon"]
