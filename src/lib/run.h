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
#include <sys/types.h>

struct run_opts {
	unsigned timeout_ms;      /* 0: wait for ever */
	unsigned long long mem_limit; /* RLIMIT_AS for the child, 0: none */
	bool capture_stdout;      /* else inherited from us */
	bool capture_stderr;      /* else inherited from us */
	/* Descriptors this child (and no other) inherits at their own
	 * numbers, so that it can be handed "/dev/fd/N" instead of a name
	 * another user could swap; they may be close-on-exec in the parent. */
	const int *keep_fds;
	size_t n_keep_fds;
	/* When set (with capture_stdout), called with each chunk of the
	 * child's stdout as it arrives (qemu-img -p's progress). */
	void (*on_stdout)(void *arg, const char *buf, size_t len);
	void *on_stdout_arg;
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

/*
 * A program left running in the background (a server such as qemu-nbd):
 * stdin and stdout on /dev/null, stderr into a pipe that run_finish reads.
 */
struct run_child {
	pid_t pid;
	int err_fd;
};

/* Start it; 0, or the errno why not (ENOENT: not found). */
int run_start(char *const argv[], struct run_child *c);
/* Has it exited?  Its status (as run_program's) if so, else -1. */
int run_poll(struct run_child *c);
/*
 * Wait up to timeout_ms for it to exit (0: no wait), then SIGKILL it; its
 * status, with its stderr in *err (malloc'ed) when err is not NULL.
 */
int run_finish(struct run_child *c, unsigned timeout_ms, char **err);

/* The file PATH would run for NAME, malloc'ed, or NULL (errno set). */
char *run_find_program(const char *name);

#endif
