#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H
#include <stdint.h>
/// Allocations (malloc, calloc, realloc, aligned variants) made by the whole process so far.
uint64_t malloc_counter_total(void);
#endif
