/* Writes MiB mebibytes to stdout as 128-byte lines (127 characters and a newline), in
 * writes of WRITE bytes (default 65536; 128 is a line-buffered producer: one write per
 * line). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long long total = (argc > 1 ? atoll(argv[1]) : 1024) * 1024 * 1024;
    long chunk = argc > 2 ? atol(argv[2]) : 65536;
    static char buf[65536];
    if (chunk < 1 || chunk > (long)sizeof buf) return 2;
    for (int i = 0; i < (int)sizeof buf; i += 128) {
        memset(buf + i, 'x', 127);
        buf[i + 127] = '\n';
    }
    while (total > 0) {
        size_t want = total < (long long)chunk ? (size_t)total : (size_t)chunk;
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
