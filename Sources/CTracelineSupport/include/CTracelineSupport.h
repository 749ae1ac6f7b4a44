#ifndef C_TRACELINE_SUPPORT_H
#define C_TRACELINE_SUPPORT_H

#include <stdint.h>

/// Returns 64 uniformly random bits from a per-thread xoshiro256** generator.
///
/// Each thread seeds its own state from the kernel (getrandom) the first time it asks,
/// so ID generation takes no lock and makes no system call on the hot path.
uint64_t traceline_random_u64(void);

/// Forces the calling thread to reseed its generator (used after fork in the child).
void traceline_random_reseed(void);

/// A small per-thread number (0-63), stable for the thread's life, for striping counters so
/// threads do not contend on one cache line.
unsigned traceline_thread_stripe(void);

/// Names the calling thread (visible in `top -H`, gdb and perf); longer names are cut to 15 bytes.
void traceline_set_thread_name(const char *name);

#endif
