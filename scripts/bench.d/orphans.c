/* Creates N orphans (each a grandchild whose parent exits first) and prints the
 * milliseconds until no zombie is left in this pid namespace's /proc. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int zombies(void) {
    int count = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    char path[64], buf[256];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(buf, sizeof buf, f)) {
            char *p = strrchr(buf, ')');
            if (p && p[2] == 'Z') count++;
        }
        fclose(f);
    }
    if (d) closedir(d);
    return count;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        pid_t child = fork();
        if (child == 0) {
            if (fork() == 0) _exit(0);
            _exit(0);
        }
        if (child > 0) waitpid(child, NULL, 0);
    }
    while (zombies() > 0) usleep(200);
    printf("%.1f\n", now_ms() - t0);
    return 0;
}
