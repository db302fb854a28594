/*
 * Running a program without a shell: PATH lookup, posix_spawn, capture of
 * its output, a deadline and a memory bound.  Nothing here reports to the
 * user; the caller knows what the run was for and words the message.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"
#include "strbuf.h"

extern char **environ;

/* What execvp uses when PATH is unset (confstr _CS_PATH on glibc). */
#define DEFAULT_PATH "/bin:/usr/bin"

/* ---------------------------------------------------------------- PATH */

/* 0 if path is an executable regular file, else an errno for why not. */
static int check_executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return errno;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return EACCES;
	return 0;
}

/*
 * Walk PATH like execvp does, but in the parent, so that the spawn gets
 * one definite file and a missing program is known before anything starts.
 * An empty element means the current directory.  As with execvp, a file
 * found but not executable gives EACCES rather than ENOENT.
 */
char *run_find_program(const char *name)
{
	if (!name || !*name) {
		errno = ENOENT;
		return NULL;
	}
	if (strchr(name, '/'))
		return xstrdup(name);

	const char *path = getenv("PATH");
	int why = ENOENT;

	if (!path)
		path = DEFAULT_PATH;
	for (const char *p = path;; p++) {
		size_t n = strcspn(p, ":");
		char *file = n ? xasprintf("%.*s/%s", (int)n, p, name)
			       : xasprintf("./%s", name);
		int e = check_executable(file);
		if (e == 0)
			return file;
		free(file);
		if (e == EACCES)
			why = EACCES;
		p += n;
		if (*p == '\0')
			break;
	}
	errno = why;
	return NULL;
}

/* ---------------------------------------------------------------- time */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before deadline (0 when passed), -1 for no deadline. */
static int ms_left(long long deadline)
{
	if (deadline < 0)
		return -1;
	long long left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > 60 * 60 * 1000 ? 60 * 60 * 1000 : (int)left;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	/* An early wake-up only means one more turn of the caller's loop. */
	nanosleep(&ts, NULL);
}

/* --------------------------------------------------------------- spawn */

struct child {
	pid_t pid;
	int out[2];             /* stdout pipe, -1 when not captured */
	int err[2];             /* stderr pipe, -1 when not captured */
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);	/* not retried on EINTR: Linux closed it anyway */
	*fd = -1;
}

static void close_pipes(struct child *c)
{
	close_fd(&c->out[0]);
	close_fd(&c->out[1]);
	close_fd(&c->err[0]);
	close_fd(&c->err[1]);
}

/*
 * A close-on-exec pipe whose ends are both above 2: if our caller runs
 * with stdin or stdout closed, a pipe end could land on 0-2 and be
 * clobbered by the child's own /dev/null or dup2 set-up.
 */
static int make_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		if (fds[i] > 2)
			continue;
		int fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (fd < 0) {
			int e = errno;
			close(fds[0]);
			close(fds[1]);
			errno = e;
			return -1;
		}
		close(fds[i]);
		fds[i] = fd;
	}
	return 0;
}

/*
 * The child's fds: /dev/null on stdin (qemu-img must never wait for a
 * terminal), the pipes' write ends on stdout/stderr when capturing.  The
 * pipes are O_CLOEXEC, so no stray end stays open in the child; dup2
 * clears the flag on the copy it makes.  The descriptors to keep are
 * dup2'ed onto themselves: glibc (>= 2.35, POSIX 2024) then clears
 * FD_CLOEXEC in this child only, so a child spawned at the same moment by
 * another thread never inherits them.  Descriptors 0-2 are refused: the
 * set-up above owns them.
 */
static int child_fds(posix_spawn_file_actions_t *fa, const struct child *c,
		     const struct run_opts *o)
{
	int e = posix_spawn_file_actions_addopen(fa, STDIN_FILENO,
						 "/dev/null", O_RDONLY, 0);
	if (!e && c->out[1] >= 0)
		e = posix_spawn_file_actions_adddup2(fa, c->out[1],
						     STDOUT_FILENO);
	if (!e && c->err[1] >= 0)
		e = posix_spawn_file_actions_adddup2(fa, c->err[1],
						     STDERR_FILENO);
	for (size_t i = 0; !e && i < o->n_keep_fds; i++)
		e = o->keep_fds[i] > 2
			? posix_spawn_file_actions_adddup2(fa, o->keep_fds[i], o->keep_fds[i])
			: EBADF;
	return e;
}

/*
 * The child starts with no blocked signals and SIGPIPE at its default, as
 * from a shell, whatever we happen to block or ignore at the moment.
 */
static int child_attr(posix_spawnattr_t *attr)
{
	sigset_t none, def;

	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	int e = posix_spawnattr_setsigmask(attr, &none);
	if (!e)
		e = posix_spawnattr_setsigdefault(attr, &def);
	if (!e)
		e = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK |
					     POSIX_SPAWN_SETSIGDEF);
	return e;
}

/* posix_spawn with our fds and signals; 0 or an errno (exec's, too). */
static int spawn(struct child *c, const char *file, char *const argv[],
		 const struct run_opts *o)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int e;

	if ((e = posix_spawn_file_actions_init(&fa)))
		return e;
	if ((e = posix_spawnattr_init(&attr))) {
		posix_spawn_file_actions_destroy(&fa);
		return e;
	}
	e = child_fds(&fa, c, o);
	if (!e)
		e = child_attr(&attr);
	if (!e)
		e = posix_spawn(&c->pid, file, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return e;
}

/*
 * Bound the child's address space.  posix_spawn cannot set rlimits, so
 * this happens just after exec: the limit defends against growth that
 * takes seconds (a hostile image making qemu-img allocate without end),
 * not against the first microseconds, and the deadline is the second
 * defence.  The hard limit is lowered too, so the child cannot lift it.
 * ESRCH means the child is already gone, which needs no bound.
 */
static int limit_memory(pid_t pid, unsigned long long limit)
{
	struct rlimit old, rl;

	if (prlimit(pid, RLIMIT_AS, NULL, &old) < 0)
		return errno == ESRCH ? 0 : -1;
	rl.rlim_cur = rl.rlim_max = (rlim_t)limit;
	if (old.rlim_max != RLIM_INFINITY && old.rlim_max < rl.rlim_max)
		rl.rlim_cur = rl.rlim_max = old.rlim_max;
	if (prlimit(pid, RLIMIT_AS, &rl, NULL) < 0)
		return errno == ESRCH ? 0 : -1;
	return 0;
}

/* ----------------------------------------------------------- waiting */

/* Exit code, or 128+N for a death by signal N. */
static int decode_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/* Reap pid, blocking; its status as decode_status() gives it. */
static int reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return decode_status(st);
}

/* The deadline has come: the child dies, whatever it was doing. */
static void kill_child(pid_t pid, struct run_result *res)
{
	kill(pid, SIGKILL);
	reap(pid);
	res->timed_out = true;
	res->status = 128 + SIGKILL;
}

/*
 * A descriptor that polls readable when pid exits, or -1 (kernels before
 * 5.3).  Waiting on it wakes us the moment the child is gone, where naps
 * would add up to milliseconds per child.
 */
static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

/* Sleep until the child behind pidfd exits or ms pass. */
static void await_exit(int pidfd, int ms, int *nap)
{
	struct pollfd p = { pidfd, POLLIN, 0 };

	if (pidfd >= 0) {
		poll(&p, 1, ms);	/* EINTR: one more turn of the loop */
		return;
	}
	sleep_ms(*nap < ms ? *nap : ms);
	*nap = *nap < 50 ? *nap * 2 : 50;
}

/*
 * Wait for the child once its pipes are done.  With a deadline the wait
 * is bounded, because a child may close its output long before it exits
 * and must still be stopped in time.
 */
static void wait_child(pid_t pid, long long deadline, struct run_result *res)
{
	int st, nap = 1, pidfd;

	if (deadline < 0) {
		res->status = reap(pid);
		return;
	}
	pidfd = open_pidfd(pid);
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			res->status = decode_status(st);
			break;
		}
		if (r < 0 && errno != EINTR) {
			res->status = -1;	/* not our child: cannot happen */
			break;
		}
		int left = ms_left(deadline);
		if (left == 0) {
			kill_child(pid, res);
			break;
		}
		await_exit(pidfd, left, &nap);
	}
	if (pidfd >= 0)
		close(pidfd);
}

/* ----------------------------------------------------------- capture */

struct capture {
	int *fd;                /* read end; set to -1 at EOF */
	struct strbuf sb;
	const struct run_opts *o; /* on_stdout for the stdout capture, else NULL */
};

/* One read from a ready pipe; the fd is closed at EOF or on error. */
static void drain_once(struct capture *cap)
{
	char buf[65536];
	ssize_t n = read(*cap->fd, buf, sizeof buf);

	if (n > 0) {
		sb_addn(&cap->sb, buf, (size_t)n);
		if (cap->o && cap->o->on_stdout)
			cap->o->on_stdout(cap->o->on_stdout_arg, buf, (size_t)n);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN))
		close_fd(cap->fd);
}

/* The still-open pipes as poll wants them; returns how many. */
static nfds_t poll_set(struct capture cap[2], struct pollfd pfd[2],
		       struct capture *which[2])
{
	nfds_t n = 0;

	for (int i = 0; i < 2; i++) {
		if (*cap[i].fd < 0)
			continue;
		pfd[n].fd = *cap[i].fd;
		pfd[n].events = POLLIN;
		pfd[n].revents = 0;
		which[n++] = &cap[i];
	}
	return n;
}

/*
 * Read both pipes until EOF on both, so that neither fills up while we
 * wait on the other.  Returns -1 if the deadline passed first.  EOF comes
 * when every holder of a write end is gone: a grandchild that keeps one
 * open keeps us here, bounded only by the deadline.
 */
static int read_pipes(struct capture cap[2], long long deadline)
{
	struct pollfd pfd[2];
	struct capture *which[2];
	nfds_t n;

	while ((n = poll_set(cap, pfd, which)) > 0) {
		int left = ms_left(deadline);
		if (left == 0)
			return -1;
		int r = poll(pfd, n, left);
		if (r < 0 && errno != EINTR) {
			/* Stop reading; closing makes the child's writes fail
			 * instead of blocking it for ever. */
			close_fd(cap[0].fd);
			close_fd(cap[1].fd);
			return 0;
		}
		for (nfds_t i = 0; r > 0 && i < n; i++)
			if (pfd[i].revents)
				drain_once(which[i]);
	}
	return 0;
}

/* Hand what was captured to res: NUL-terminated, NULL if not captured. */
static void keep_output(struct capture *cap, bool captured, char **buf,
			size_t *len)
{
	*len = cap->sb.len;
	*buf = captured ? sb_detach(&cap->sb) : NULL;
	sb_free(&cap->sb);
}

/* ------------------------------------------------------------- entry */

static int start_child(struct child *c, char *const argv[],
		       const struct run_opts *o)
{
	char *file = run_find_program(argv[0]);
	int e;

	if (!file)
		return errno;
	if ((o->capture_stdout && make_pipe(c->out) < 0) ||
	    (o->capture_stderr && make_pipe(c->err) < 0)) {
		e = errno;
		free(file);
		return e;
	}
	e = spawn(c, file, argv, o);
	free(file);
	if (e)
		return e;
	if (o->mem_limit && limit_memory(c->pid, o->mem_limit) < 0) {
		e = errno;
		kill(c->pid, SIGKILL);	/* we promised a bound we cannot set */
		reap(c->pid);
		return e;
	}
	return 0;
}

int run_program(char *const argv[], const struct run_opts *opts,
		struct run_result *res)
{
	static const struct run_opts none;
	const struct run_opts *o = opts ? opts : &none;
	struct child c = { -1, { -1, -1 }, { -1, -1 } };
	struct capture cap[2] = { { &c.out[0], STRBUF_INIT, o },
				  { &c.err[0], STRBUF_INIT, NULL } };

	memset(res, 0, sizeof *res);
	res->status = -1;
	long long deadline = o->timeout_ms ? now_ms() + o->timeout_ms : -1;
	res->spawn_errno = start_child(&c, argv, o);
	close_fd(&c.out[1]);	/* the child has its copies; EOF needs ours gone */
	close_fd(&c.err[1]);
	if (res->spawn_errno) {
		close_pipes(&c);
		return -1;
	}
	if (read_pipes(cap, deadline) < 0)
		kill_child(c.pid, res);
	else
		wait_child(c.pid, deadline, res);
	close_pipes(&c);
	keep_output(&cap[0], o->capture_stdout, &res->out, &res->out_len);
	keep_output(&cap[1], o->capture_stderr, &res->err, &res->err_len);
	return res->status;
}

void run_result_free(struct run_result *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
	res->out_len = res->err_len = 0;
}

/* ------------------------------------------------------- background */

int run_start(char *const argv[], struct run_child *bg)
{
	static const struct run_opts opts = { .capture_stderr = true };
	struct child c = { -1, { -1, -1 }, { -1, -1 } };
	int e = start_child(&c, argv, &opts);

	close_fd(&c.err[1]);
	bg->pid = e ? -1 : c.pid;
	bg->err_fd = e ? -1 : c.err[0];
	if (e)
		close_pipes(&c);
	return e;
}

int run_poll(struct run_child *bg)
{
	int st;
	pid_t r;

	if (bg->pid < 0)
		return -1;
	do
		r = waitpid(bg->pid, &st, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r != bg->pid)
		return -1;
	bg->pid = -1;
	return decode_status(st);
}

static char *drain_stderr(int *fd)
{
	struct capture cap = { fd, STRBUF_INIT, NULL };
	int flags = fcntl(*fd, F_GETFL);

	/* Whatever is there now; the child is gone or about to be. */
	fcntl(*fd, F_SETFL, flags | O_NONBLOCK);
	while (*fd >= 0)
		drain_once(&cap);
	return sb_detach(&cap.sb);
}

int run_finish(struct run_child *bg, unsigned timeout_ms, char **err)
{
	struct run_result res = { .status = -1 };
	char *text;
	int status = run_poll(bg);

	if (status < 0 && bg->pid > 0) {
		wait_child(bg->pid, now_ms() + timeout_ms, &res);
		status = res.status;
		bg->pid = -1;
	}
	text = bg->err_fd >= 0 ? drain_stderr(&bg->err_fd) : NULL;
	if (err)
		*err = text;
	else
		free(text);
	return status;
}
