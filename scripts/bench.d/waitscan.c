/* What one reap call costs with N children (issue 17, the restart curve): forks N children
 * that pause, lets them settle, then times 1000 calls of waitpid(-1, WNOHANG) (the kernel
 * walks every child; none has exited, so each call scans all N) and 1000 of
 * waitpid(PID, WNOHANG) for one child. Usage: waitscan N.
 * Build: gcc -O2 -o target/bench/waitscan scripts/bench.d/waitscan.c */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    pid_t *kids = malloc(n * sizeof *kids);
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        kids[i] = p;
    }
    sleep(2);
    int st;
    double t = now_us();
    for (int i = 0; i < 1000; i++) waitpid(-1, &st, WNOHANG);
    double any = (now_us() - t) / 1000;
    t = now_us();
    for (int i = 0; i < 1000; i++) waitpid(kids[n / 2], &st, WNOHANG);
    double one = (now_us() - t) / 1000;
    printf("N=%d waitpid(-1, WNOHANG) %.2f us a call, waitpid(pid, WNOHANG) %.2f us a call\n", n, any, one);
    for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
    while (wait(&st) > 0) {
    }
    return 0;
}
