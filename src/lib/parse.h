/* Parsing of command-line values; all return 0 on success, -1 on junk. */
#ifndef OVL_PARSE_H
#define OVL_PARSE_H

#include <stdint.h>

/* A non-negative decimal integer, no sign, no trailing garbage. */
int parse_uint64(const char *s, uint64_t *out);

/* A size like qemu-img's: 512, 64k, 16M, 1.5G, 2T (powers of 1024;
 * a "B" suffix and "iB" are accepted: 64KiB). */
int parse_size(const char *s, uint64_t *out);

/* "16 MiB", "1.5 GiB" (one decimal, rounded down), into buf. */
const char *format_size(uint64_t bytes, char *buf, unsigned len);

#endif
