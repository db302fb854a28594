/*
 * Talking to qemu-img: its arguments and its runs.
 *
 * Everything that hands a file name to qemu-img goes through here, so that
 * no name is ever read as a protocol ("a:b.img") or an option ("-x.img"),
 * and every value inside --image-opts has its commas doubled.
 */
#ifndef OVL_QEMU_H
#define OVL_QEMU_H

#include <stdbool.h>
#include "argv.h"
#include "run.h"

struct progress;

/* A path as a qemu-img filename operand: relative paths get "./". */
char *qemu_path_arg(const char *path);

/* A value for --image-opts / -o: every ',' doubled. */
char *qemu_opt_escape(const char *value);

enum qemu_run_kind {
	/* info, check, map, compare: bounded in time and memory, output kept. */
	QEMU_QUERY,
	/* commit, create, convert, rebase: no deadline, stderr kept. */
	QEMU_WRITE,
	/* like QEMU_WRITE, its stdout (qemu-img -p progress) read as it comes. */
	QEMU_WRITE_PROGRESS,
};

/* Limits for QEMU_QUERY runs; tests may lower them through the environment
 * (OVL_QUERY_TIMEOUT_MS, OVL_QUERY_MEM_LIMIT). */
#define QEMU_QUERY_TIMEOUT_MS (120 * 1000)
#define QEMU_QUERY_MEM_LIMIT (2ULL << 30)

/*
 * Run "qemu-img ARGS..." (qemu-img found through PATH).  Returns the exit
 * status as run_program() does.  When the run did not exit 0, report an
 * error "PROG: 'subject': WHAT: <qemu-img's own message>" unless
 * subject and what are both NULL.  The caller frees res.
 */
int qemu_img(struct argv *args, enum qemu_run_kind kind,
	     const char *subject, const char *what, struct run_result *res);

/*
 * qemu_img() whose child inherits the descriptors KEEP_FDS (N_KEEP of
 * them) at their own numbers, and no other child does: a file we made is
 * then named to qemu-img as qemu_fd_path(fd), which reaches that inode
 * whatever another user did to its name since.
 */
int qemu_img_keep(struct argv *args, enum qemu_run_kind kind, const int *keep_fds,
		  size_t n_keep, const char *subject, const char *what,
		  struct run_result *res);

/* "/dev/fd/N" for a descriptor a qemu-img child keeps.  Malloc'ed. */
char *qemu_fd_path(int fd);

/*
 * qemu-img commit -d of the image IMAGE_OPTS opens (its backing named in
 * it).  When PG is drawing (progress.h), qemu-img's -p output moves PG's
 * current part; PG NULL or not drawing: qemu-img -q.  Takes IMAGE_OPTS
 * (malloc'ed).  0, or 1 after reporting "SUBJECT: WHAT: why".
 */
int qemu_commit(char *image_opts, const char *subject, const char *what,
		struct progress *pg);
/* The same, the child keeping descriptor KEEP_FD (-1: none), which
 * IMAGE_OPTS names as qemu_fd_path(KEEP_FD). */
int qemu_commit_keep(char *image_opts, int keep_fd, const char *subject, const char *what,
		     struct progress *pg);

/*
 * qemu-img's diagnostic from a failed run, fit for the end of a message:
 * the last non-warning line of its stderr without the "qemu-img: " prefix,
 * or a description of the signal/timeout.  Malloc'ed.
 */
char *qemu_failure_text(const struct run_result *res);

#endif
