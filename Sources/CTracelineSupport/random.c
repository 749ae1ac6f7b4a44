// Per-thread pseudo-random generator for trace and span IDs.
//
// The algorithm is xoshiro256** (Blackman and Vigna, public domain), chosen because it is
// tiny, passes BigCrush, and costs a few nanoseconds. Trace IDs do not need cryptographic
// strength, only uniqueness and uniform distribution, which the W3C "random" flag promises.
// The state is seeded from getrandom(2), falling back to time and address entropy.

#define _GNU_SOURCE
#include "CTracelineSupport.h"

#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#include <pthread.h>
#endif

static _Thread_local uint64_t tl_state[4] __attribute__((tls_model("initial-exec")));
static _Thread_local int tl_seeded __attribute__((tls_model("initial-exec")));

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void seed_state(void) {
    uint64_t seed[4] = {0, 0, 0, 0};
    size_t got = 0;
#if defined(__linux__)
    while (got < sizeof(seed)) {
        ssize_t n = getrandom((char *)seed + got, sizeof(seed) - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
    }
#endif
    if (got < sizeof(seed)) {
        // No kernel entropy: mix the clock, the pid and a stack address through splitmix64.
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid()
                     ^ (uint64_t)(uintptr_t)&ts;
        for (int i = 0; i < 4; i++) seed[i] ^= splitmix64(&x);
    }
    // xoshiro must not start from an all-zero state.
    if ((seed[0] | seed[1] | seed[2] | seed[3]) == 0) seed[0] = 0x9e3779b97f4a7c15ULL;
    memcpy(tl_state, seed, sizeof(seed));
    tl_seeded = 1;
}

#if defined(__linux__)
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void child_after_fork(void) { tl_seeded = 0; }
static void install_atfork(void) { pthread_atfork(NULL, NULL, child_after_fork); }
#endif

uint64_t traceline_random_u64(void) {
    if (__builtin_expect(!tl_seeded, 0)) {
#if defined(__linux__)
        pthread_once(&atfork_once, install_atfork);
#endif
        seed_state();
    }
    uint64_t *s = tl_state;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void traceline_random_reseed(void) { tl_seeded = 0; }

static unsigned next_stripe;
static _Thread_local unsigned tl_stripe __attribute__((tls_model("initial-exec")));
static _Thread_local int tl_has_stripe __attribute__((tls_model("initial-exec")));

unsigned traceline_thread_stripe(void) {
    if (__builtin_expect(!tl_has_stripe, 0)) {
        tl_stripe = __atomic_fetch_add(&next_stripe, 1, __ATOMIC_RELAXED) & 63;
        tl_has_stripe = 1;
    }
    return tl_stripe;
}
