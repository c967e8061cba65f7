/* The tax on an unrelated syscall: calls getppid(2) in a loop for SECONDS
 * (default 0.5) and prints `ns_per_call=X calls=N`. Through syscall(2), so no
 * libc caching can hide the kernel entry; audit's per-syscall work (an audit
 * context on every entry/exit once rules are loaded) shows here.
 *
 *   syscall_loop [SECONDS]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 0.5;
    long calls = 0;
    double start = now(), el;
    do {
        for (int i = 0; i < 10000; i++) syscall(SYS_getppid);
        calls += 10000;
        el = now() - start;
    } while (el < seconds);
    printf("ns_per_call=%.2f calls=%ld\n", el * 1e9 / calls, calls);
    return 0;
}
