#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"
#include "progress.h"
#include "qemu.h"
#include "report.h"
#include "strbuf.h"

char *qemu_path_arg(const char *path)
{
	/* qemu reads "proto:rest" as a protocol when ':' comes before any '/',
	 * and a leading '-' as an option: "./" defuses both. */
	if (path[0] == '/' || strncmp(path, "./", 2) == 0)
		return xstrdup(path);
	return xasprintf("./%s", path);
}

char *qemu_opt_escape(const char *value)
{
	struct strbuf sb = STRBUF_INIT;

	sb_add(&sb, "");
	for (const char *p = value; *p; p++) {
		const char *comma = strchr(p, ',');
		if (!comma) {
			sb_add(&sb, p);
			break;
		}
		sb_addn(&sb, p, (size_t)(comma - p));
		sb_add(&sb, ",,");
		p = comma;
	}
	return sb_detach(&sb);
}

static unsigned long long env_limit(const char *name, unsigned long long dflt)
{
	const char *v = getenv(name);
	uint64_t n;

	if (v && parse_uint64(v, &n) == 0)
		return n;
	return dflt;
}

static void set_run_opts(enum qemu_run_kind kind, struct run_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->capture_stderr = true;
	if (kind == QEMU_QUERY) {
		o->timeout_ms = env_limit("OVL_QUERY_TIMEOUT_MS", QEMU_QUERY_TIMEOUT_MS);
		o->mem_limit = env_limit("OVL_QUERY_MEM_LIMIT", QEMU_QUERY_MEM_LIMIT);
	}
	o->capture_stdout = true;
}

char *qemu_fd_path(int fd)
{
	return xasprintf("/dev/fd/%d", fd);
}

int qemu_img(struct argv *args, enum qemu_run_kind kind,
	     const char *subject, const char *what, struct run_result *res)
{
	return qemu_img_keep(args, kind, NULL, 0, subject, what, res);
}

/* Run "qemu-img ARGS" with OPTS; on failure report "SUBJECT: WHAT: why"
 * unless both are NULL. */
static int run_qemu(struct argv *args, const struct run_opts *opts,
		    const char *subject, const char *what, struct run_result *res)
{
	struct argv full = ARGV_INIT;
	int status;

	argv_push(&full, "qemu-img");
	for (size_t i = 0; i < args->n; i++)
		argv_push(&full, args->v[i]);
	status = run_program(argv_vec(&full), opts, res);
	argv_free(&full);
	if (status != 0 && (subject || what)) {
		char *why = qemu_failure_text(res);
		ovl_error(subject, "%s: %s", what ? what : "qemu-img failed", why);
		free(why);
	}
	return status;
}

int qemu_img_keep(struct argv *args, enum qemu_run_kind kind, const int *keep_fds,
		  size_t n_keep, const char *subject, const char *what,
		  struct run_result *res)
{
	struct run_opts opts;

	set_run_opts(kind, &opts);
	opts.keep_fds = keep_fds;
	opts.n_keep_fds = n_keep;
	return run_qemu(args, &opts, subject, what, res);
}

static bool is_noise(const char *line, size_t len)
{
	/* Deprecation warnings precede the real message; skip them. */
	return len == 0 || memmem(line, len, "warning:", 8) != NULL;
}

/* qemu-img's message: its non-warning lines, "qemu-img: " prefixes
 * dropped, joined by "; " (a file name with a newline spans two lines). */
static char *message_lines(const char *err)
{
	struct strbuf sb = STRBUF_INIT;
	const char *end = err + strlen(err);

	for (const char *p = err; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (!is_noise(p, len)) {
			const char *line = p;
			size_t keep = len;
			if (keep >= 10 && strncmp(line, "qemu-img: ", 10) == 0)
				line += 10, keep -= 10;
			if (sb.len)
				sb_add(&sb, "; ");
			sb_addn(&sb, line, keep);
		}
		p = nl ? nl + 1 : end;
	}
	return sb.len ? sb_detach(&sb) : (sb_free(&sb), NULL);
}

char *qemu_failure_text(const struct run_result *res)
{
	char *line;

	if (res->status == -1)
		return xasprintf("cannot run qemu-img: %s", strerror(res->spawn_errno));
	if (res->timed_out)
		return xstrdup("qemu-img did not finish in time and was killed");
	if (res->err && (line = message_lines(res->err)))
		return line;
	if (res->status > 128)
		return xasprintf("qemu-img was killed by signal %d", res->status - 128);
	return xasprintf("qemu-img exited with status %d", res->status);
}

int qemu_commit(char *image_opts, const char *subject, const char *what,
		struct progress *pg)
{
	return qemu_commit_keep(image_opts, -1, subject, what, pg);
}

static void feed_progress(void *arg, const char *buf, size_t len)
{
	progress_feed_qemu(arg, buf, len);
}

/* With a bar on show, qemu-img's -p output comes through a pipe into it;
 * without, "-q" and no reader at all (the common path stays as it was). */
int qemu_commit_keep(char *image_opts, int keep_fd, const char *subject, const char *what,
		     struct progress *pg)
{
	struct argv args = ARGV_INIT;
	struct run_opts opts;
	struct run_result res;
	bool show = pg && pg->on;
	int status;

	argv_push(&args, "commit");
	argv_push(&args, "-d");      /* never empty the top: it is kept */
	argv_push(&args, show ? "-p" : "-q");
	argv_push(&args, "--image-opts");
	argv_push_owned(&args, image_opts);
	set_run_opts(show ? QEMU_WRITE_PROGRESS : QEMU_WRITE, &opts);
	opts.keep_fds = &keep_fd;
	opts.n_keep_fds = keep_fd >= 0 ? 1 : 0;
	if (show) {
		opts.on_stdout = feed_progress;
		opts.on_stdout_arg = pg;
	}
	status = run_qemu(&args, &opts, subject, what, &res);
	run_result_free(&res);
	argv_free(&args);
	return status == 0 ? 0 : 1;
}
