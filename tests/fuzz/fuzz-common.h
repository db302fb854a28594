/*
 * What every libFuzzer target of tests/fuzz shares: the input as a C
 * string or as a file descriptor (for parsers that read with pread), and
 * a check that stops the run with a message when a parser broke its own
 * contract (a crash, so libFuzzer keeps the input as a reproducer).
 */
#ifndef OVL_FUZZ_COMMON_H
#define OVL_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "report.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parsers report junk through ovl_error(); a million of those lines would
 * drown libFuzzer's own report, so this thread's are dropped. */
static inline void fuzz_quiet(void)
{
	ovl_set_progname("ovl-fuzz");
	ovl_mute_thread(true);
}

/* DATA as a malloc'ed NUL-terminated string (libFuzzer's input is not). */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A file descriptor whose file holds exactly DATA, at offset 0 (one memfd
 * for the whole run, truncated and rewritten each time). */
static inline int fuzz_fd(const uint8_t *data, size_t size)
{
	static int fd = -1;

	if (fd < 0 && (fd = memfd_create("ovl-fuzz", MFD_CLOEXEC)) < 0) {
		perror("memfd_create");
		abort();
	}
	if (ftruncate(fd, 0) < 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
		perror("writing the memfd");
		abort();
	}
	return fd;
}

/* A broken promise of the parser under test: say which, and crash. */
#define FUZZ_CHECK(cond)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: parser contract broken: %s\n",  \
				__FILE__, __LINE__, #cond);                     \
			abort();                                                \
		}                                                               \
	} while (0)

#endif
