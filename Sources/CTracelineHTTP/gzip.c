// gzip (RFC 1952) for OTLP request bodies, on zlib.
#include "CTracelineHTTP.h"

#include <stdlib.h>
#include <zlib.h>

int traceline_gzip(const uint8_t *input, size_t input_length, uint8_t **output, size_t *output_length) {
    z_stream stream = {0};
    // windowBits 15 + 16 selects the gzip wrapper; level 6 is zlib's default trade-off.
    if (deflateInit2(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    uLong bound = deflateBound(&stream, (uLong)input_length);
    uint8_t *buffer = malloc(bound);
    if (!buffer) {
        deflateEnd(&stream);
        return -1;
    }
    stream.next_in = (Bytef *)input;
    stream.avail_in = (uInt)input_length;
    stream.next_out = buffer;
    stream.avail_out = (uInt)bound;
    int result = deflate(&stream, Z_FINISH);
    deflateEnd(&stream);
    if (result != Z_STREAM_END) {
        free(buffer);
        return -1;
    }
    *output = buffer;
    *output_length = stream.total_out;
    return 0;
}
