/* The known ways around exec tracing, for tracer's evasion tests.
 *
 *   evasion MODE PROGRAM [ARG...]
 *
 * MODE:
 *   execveat   open PROGRAM, execveat(fd, "", argv, envp, AT_EMPTY_PATH)
 *   fexecve    open PROGRAM, fexecve(fd, ...)
 *   memfd      copy PROGRAM into a memfd_create() file and fexecve it (no file
 *              on any filesystem)
 *   thread     execve from a second thread (not the thread-group leader)
 *   race       execve while another thread keeps rewriting the argv strings
 *              (what runs is what the kernel copied; a tracer must log that)
 * argv[0] of the new program is PROGRAM, followed by the ARGs.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;
static char **child_argv;

static void die(const char *what) { perror(what); exit(99); }

static void *exec_thread(void *arg) {
    (void)arg;
    execve(child_argv[0], child_argv, environ);
    die("execve from thread");
    return NULL;
}

static void *scribble(void *arg) {
    (void)arg;
    for (;;) {
        for (char **a = child_argv + 1; *a; a++) {
            /* The first 8 bytes are left alone, as a marker to find the exec by. */
            size_t n = strlen(*a);
            for (size_t i = n < 8 ? n : 8; i < n; i++) (*a)[i] = (*a)[i] == 'X' ? 'Y' : 'X';
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: evasion MODE PROGRAM [ARG...]\n");
        return 2;
    }
    const char *mode = argv[1];
    child_argv = &argv[2];
    if (!strcmp(mode, "execveat") || !strcmp(mode, "fexecve") || !strcmp(mode, "memfd")) {
        int fd = open(child_argv[0], O_RDONLY | O_CLOEXEC);
        if (fd < 0) die("open");
        if (!strcmp(mode, "memfd")) {
            int m = memfd_create("tracer-evasion", MFD_CLOEXEC);
            if (m < 0) die("memfd_create");
            struct stat st;
            if (fstat(fd, &st) < 0) die("fstat");
            off_t off = 0;
            while (off < st.st_size)
                if (sendfile(m, fd, &off, st.st_size - off) <= 0) die("sendfile");
            close(fd);
            fd = m;
        }
        if (!strcmp(mode, "execveat"))
            syscall(SYS_execveat, fd, "", child_argv, environ, AT_EMPTY_PATH);
        else
            fexecve(fd, child_argv, environ);
        die(mode);
    }
    if (!strcmp(mode, "thread") || !strcmp(mode, "race")) {
        pthread_t t;
        if (!strcmp(mode, "race")) {
            pthread_create(&t, NULL, scribble, NULL);
            usleep(1000);
            execve(child_argv[0], child_argv, environ);
            die("execve");
        }
        pthread_create(&t, NULL, exec_thread, NULL);
        pthread_join(t, NULL);
        return 98;
    }
    fprintf(stderr, "evasion: unknown mode %s\n", mode);
    return 2;
}
