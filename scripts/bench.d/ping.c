/* Benchmark unit: reports "<pid> <CLOCK_MONOTONIC ns>" as one datagram to the Unix socket
 * named by $BENCH_SOCK as soon as it starts, then sleeps until killed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const char *path = getenv("BENCH_SOCK");
    if (path) {
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
        char msg[64];
        int n = snprintf(msg, sizeof msg, "%d %lld", (int)getpid(),
                         (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
        sendto(fd, msg, n, 0, (struct sockaddr *)&addr, sizeof addr);
        close(fd);
    }
    for (;;) pause();
}
