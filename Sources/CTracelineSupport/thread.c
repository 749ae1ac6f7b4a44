#define _GNU_SOURCE
#include "CTracelineSupport.h"

#include <pthread.h>
#include <string.h>

void traceline_set_thread_name(const char *name) {
#if defined(__linux__)
    char truncated[16];
    strncpy(truncated, name, sizeof(truncated) - 1);
    truncated[sizeof(truncated) - 1] = 0;
    pthread_setname_np(pthread_self(), truncated);
#else
    (void)name;
#endif
}
