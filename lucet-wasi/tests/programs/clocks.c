/*
 * clocks.c -- checks clock_time_get, clock_res_get and poll_oneoff (sleep).
 *
 * - realtime: CLOCK_REALTIME is after 2020-01-01 and before 2100-01-01, with
 *   tv_nsec in range.
 * - monotonic: two successive CLOCK_MONOTONIC readings do not go backwards.
 * - resolution: clock_getres for both clocks is > 0 and <= 1 s.
 * - sleep: nanosleep(10 ms) returns 0 and CLOCK_MONOTONIC advanced >= 10 ms.
 * Prints one "<check> ok" line per check; on a failure prints
 * "<check> FAILED: ..." to stdout and exits 1 after the remaining checks.
 *
 * Run: guest argv = clocks. No env, no preopens, no stdin needed.
 * Expected: clocks.stdout.expected, empty stderr, exit 0.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

static int failed;

static void fail(const char *check, const char *what) {
    printf("%s FAILED: %s\n", check, what);
    failed = 1;
}

int main(void) {
    struct timespec rt, m1, m2, r1, r2, before, after;

    if (clock_gettime(CLOCK_REALTIME, &rt) != 0)
        fail("realtime", strerror(errno));
    else if (rt.tv_sec < 1577836800 /* 2020-01-01 */ || rt.tv_sec >= 4102444800LL /* 2100-01-01 */)
        fail("realtime", "outside 2020..2100");
    else if (rt.tv_nsec < 0 || rt.tv_nsec >= 1000000000)
        fail("realtime", "tv_nsec out of range");
    else
        puts("realtime ok");

    if (clock_gettime(CLOCK_MONOTONIC, &m1) != 0 || clock_gettime(CLOCK_MONOTONIC, &m2) != 0)
        fail("monotonic", strerror(errno));
    else if (ns(m2) < ns(m1))
        fail("monotonic", "went backwards");
    else
        puts("monotonic ok");

    if (clock_getres(CLOCK_REALTIME, &r1) != 0 || clock_getres(CLOCK_MONOTONIC, &r2) != 0)
        fail("resolution", strerror(errno));
    else if (ns(r1) <= 0 || ns(r1) > 1000000000 || ns(r2) <= 0 || ns(r2) > 1000000000)
        fail("resolution", "not in (0, 1s]");
    else
        puts("resolution ok");

    struct timespec req = {0, 10 * 1000 * 1000};
    if (clock_gettime(CLOCK_MONOTONIC, &before) != 0)
        fail("sleep", strerror(errno));
    else if (nanosleep(&req, NULL) != 0)
        fail("sleep", strerror(errno));
    else if (clock_gettime(CLOCK_MONOTONIC, &after) != 0)
        fail("sleep", strerror(errno));
    else if (ns(after) - ns(before) < 10 * 1000 * 1000)
        fail("sleep", "monotonic clock advanced less than 10ms");
    else
        puts("sleep ok");

    return failed;
}
