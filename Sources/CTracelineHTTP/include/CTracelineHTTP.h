#ifndef C_TRACELINE_HTTP_H
#define C_TRACELINE_HTTP_H

#include <stddef.h>
#include <stdint.h>

/// A reusable HTTP client: one libcurl easy handle, so connections are kept alive between calls.
/// Not thread-safe: each exporter owns one and uses it from its export thread only.
typedef struct traceline_http_client traceline_http_client;

/// What one POST produced.
typedef struct {
    long status;            ///< HTTP status, 0 when no response arrived
    int transport_error;    ///< libcurl's CURLcode, 0 on success
    int timed_out;          ///< 1 when the request hit its timeout
    char error[256];        ///< libcurl's message for transport_error
    uint8_t *body;          ///< response body (malloc'd, may be NULL); free with traceline_http_response_free
    size_t body_length;
    int body_too_large;     ///< 1 when the body passed max_response_bytes (the transfer was aborted)
    char retry_after[128];  ///< the Retry-After header value, or ""
    char content_type[128]; ///< the Content-Type header value, or ""
    size_t bytes_uploaded;
} traceline_http_response;

/// Options for one POST. Strings may be NULL.
typedef struct {
    const char *url;
    const char *const *headers;  ///< "Name: value" lines
    size_t header_count;
    const uint8_t *body;
    size_t body_length;
    long timeout_ms;              ///< whole request, connect included; 0 means no limit
    const char *ca_file;          ///< trusted CA bundle (PEM); NULL: the system store
    const char *client_certificate;
    const char *client_key;
    size_t max_response_bytes;
    const char *user_agent;
    /// When non-NULL: a CLOCK_MONOTONIC time in milliseconds, read atomically while the request
    /// runs; once it passes the transfer is aborted (shutdown deadlines). 0 means none.
    const int64_t *abort_at_monotonic_ms;
} traceline_http_request;

/// Atomic store and load for the abort deadline, shared between the export thread and shutdown.
void traceline_store_i64(int64_t *target, int64_t value);
int64_t traceline_load_i64(const int64_t *source);

/// CLOCK_MONOTONIC in milliseconds (the time base of abort_at_monotonic_ms).
int64_t traceline_monotonic_ms(void);

traceline_http_client *traceline_http_client_create(void);
void traceline_http_client_destroy(traceline_http_client *client);

/// Sends one POST and fills `response`. Returns 0 when an HTTP response arrived, -1 otherwise.
int traceline_http_post(traceline_http_client *client, const traceline_http_request *request,
                        traceline_http_response *response);

void traceline_http_response_free(traceline_http_response *response);

/// gzip-compresses `input` (RFC 1952). Returns 0 and a malloc'd buffer in *output, or -1.
int traceline_gzip(const uint8_t *input, size_t input_length, uint8_t **output, size_t *output_length);

#endif
