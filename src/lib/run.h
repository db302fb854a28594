/*
 * Running a program from an argument vector, without a shell.
 *
 * The program is looked up in PATH before it is started (so a wrapper early
 * in PATH sees every call), started with posix_spawn, given /dev/null as
 * stdin, and waited for with an optional deadline.  Its output can be
 * captured into memory.
 */
#ifndef OVL_RUN_H
#define OVL_RUN_H

#include <stdbool.h>
#include <stddef.h>

struct run_opts {
	unsigned timeout_ms;      /* 0: wait for ever */
	unsigned long long mem_limit; /* RLIMIT_AS for the child, 0: none */
	bool capture_stdout;      /* else inherited from us */
	bool capture_stderr;      /* else inherited from us */
};

struct run_result {
	/* Exit code, or 128+N when killed by signal N; -1 if never started. */
	int status;
	bool timed_out;           /* we killed it at the deadline */
	int spawn_errno;          /* why it could not be started (status -1) */
	char *out;                /* captured stdout, NUL-terminated, or NULL */
	size_t out_len;
	char *err;                /* captured stderr, NUL-terminated, or NULL */
	size_t err_len;
};

/*
 * Run argv[0] (looked up in PATH unless it contains a '/').  Returns the
 * status as in run_result.status; on -1, spawn_errno says why (ENOENT when
 * the program is not found).  The result must be released with
 * run_result_free() whatever the outcome.
 */
int run_program(char *const argv[], const struct run_opts *opts,
		struct run_result *res);
void run_result_free(struct run_result *res);

/* The file PATH would run for NAME, malloc'ed, or NULL (errno set). */
char *run_find_program(const char *name);

#endif
