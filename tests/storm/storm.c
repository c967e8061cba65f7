/* Exec storm generator for tracer's tests and benchmarks.
 *
 *   storm [-w WORKERS] [-d SECONDS] [-n EXECS] [-m fork|vfork|spawn] TARGET [ARG...]
 *
 * Each worker process runs TARGET as fast as it can (fork+execve+wait, vfork,
 * or posix_spawn) until SECONDS pass or it made EXECS execs. On exit it prints
 * one line: `execs=N failed=M seconds=S rate=R`, where N counts children that
 * exited 0 (so their exec succeeded) and M the others.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int workers = 1, opt;
    double seconds = 1;
    long max_execs = 0;
    const char *mode = "fork";
    while ((opt = getopt(argc, argv, "+w:d:n:m:")) != -1) {
        switch (opt) {
        case 'w': workers = atoi(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'n': max_execs = atol(optarg); break;
        case 'm': mode = optarg; break;
        default:
            fprintf(stderr, "usage: storm [-w N] [-d S] [-n N] [-m fork|vfork|spawn] TARGET [ARG...]\n");
            return 2;
        }
    }
    if (optind >= argc || workers < 1) {
        fprintf(stderr, "storm: missing TARGET\n");
        return 2;
    }
    char **targv = &argv[optind];
    long *counts = mmap(NULL, sizeof(long) * 2 * workers, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counts == MAP_FAILED) { perror("mmap"); return 1; }
    memset(counts, 0, sizeof(long) * 2 * workers);
    double start = now(), deadline = start + seconds;
    for (int w = 0; w < workers; w++) {
        pid_t p = fork();
        if (p < 0) { perror("fork"); return 1; }
        if (p > 0) continue;
        long ok = 0, bad = 0;
        long quota = max_execs ? (max_execs + workers - 1 - w) / workers : 0;
        while (now() < deadline && (!quota || ok + bad < quota)) {
            pid_t c;
            int st;
            if (!strcmp(mode, "spawn")) {
                if (posix_spawn(&c, targv[0], NULL, NULL, targv, environ) != 0) { bad++; continue; }
            } else if (!strcmp(mode, "vfork")) {
                c = vfork();
                if (c == 0) { execv(targv[0], targv); _exit(127); }
            } else {
                c = fork();
                if (c == 0) { execv(targv[0], targv); _exit(127); }
            }
            if (c < 0) { bad++; continue; }
            if (waitpid(c, &st, 0) < 0) { bad++; continue; }
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++; else bad++;
        }
        counts[2 * w] = ok;
        counts[2 * w + 1] = bad;
        _exit(0);
    }
    for (int w = 0; w < workers; w++) wait(NULL);
    double el = now() - start;
    long ok = 0, bad = 0;
    for (int w = 0; w < workers; w++) { ok += counts[2 * w]; bad += counts[2 * w + 1]; }
    printf("execs=%ld failed=%ld seconds=%.3f rate=%.1f\n", ok, bad, el, ok / el);
    return 0;
}
