/* The start-up floor: one process posix_spawns N copies of a program, then waits. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int n = atoi(argv[1]);
    char *child_argv[] = {argv[2], NULL};
    for (int i = 0; i < n; i++) {
        pid_t pid;
        if (posix_spawn(&pid, argv[2], NULL, NULL, child_argv, environ) != 0) return 1;
    }
    for (;;) pause();
}
