/* Writes MiB mebibytes to stdout as 128-byte lines (127 characters and a newline). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long long total = (argc > 1 ? atoll(argv[1]) : 1024) * 1024 * 1024;
    static char buf[65536];
    for (int i = 0; i < (int)sizeof buf; i += 128) {
        memset(buf + i, 'x', 127);
        buf[i + 127] = '\n';
    }
    while (total > 0) {
        size_t want = total < (long long)sizeof buf ? (size_t)total : sizeof buf;
        size_t off = 0;
        while (off < want) {
            ssize_t n = write(1, buf + off, want - off);
            if (n <= 0) return 1;
            off += (size_t)n;
        }
        total -= (long long)want;
    }
    return 0;
}
