/*
 * Tests of run.c: statuses, spawn failures, PATH lookup, capture, the
 * deadline, the memory bound, stdin and fd hygiene.  The program run is
 * tests/unit/child, found through $OVL_BUILDDIR or beside this test.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"
#include "strbuf.h"
#include "tap.h"

static char *child_path;        /* absolute path of the child program */
static char *child_dir;         /* its directory */

/* ------------------------------------------------------------ helpers */

static char *absolute(const char *p)
{
	char *r = realpath(p, NULL);

	return r ? r : xstrdup(p);
}

static void find_child(const char *argv0)
{
	const char *b = getenv("OVL_BUILDDIR");
	char *p;

	if (b && *b) {
		p = xasprintf("%s/tests/unit/child", b);
	} else {
		const char *slash = strrchr(argv0, '/');
		int n = slash ? (int)(slash - argv0) : 1;
		p = xasprintf("%.*s/child", n, slash ? argv0 : ".");
	}
	child_path = absolute(p);
	free(p);
	child_dir = xstrdup(child_path);
	*strrchr(child_dir, '/') = '\0';
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the child with up to 6 arguments (NULL-terminated). */
static int run_child(const struct run_opts *o, struct run_result *r,
		     const char *a1, const char *a2, const char *a3,
		     const char *a4)
{
	char *argv[] = { child_path, (char *)a1, (char *)a2, (char *)a3,
			 (char *)a4, NULL };

	return run_program(argv, o, r);
}

static const struct run_opts capture_both = {
	.timeout_ms = 20000,    /* a deadlock fails the test, not the build */
	.capture_stdout = true,
	.capture_stderr = true,
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static bool all_bytes(const char *buf, size_t len, char c)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != c)
			return false;
	return true;
}

/* ------------------------------------------------------------- tests */

static void test_exit_codes(void)
{
	static const char *const codes[] = { "0", "1", "3", "77" };
	struct run_result r;

	for (int i = 0; i < 4; i++) {
		int s = run_child(NULL, &r, "exit", codes[i], NULL, NULL);
		ok(s == atoi(codes[i]) && r.status == s && !r.timed_out &&
		   !r.out && !r.err, "exit %s is returned", codes[i]);
		run_result_free(&r);
	}
}

static void test_signals(void)
{
	struct run_result r;

	is_int(run_child(NULL, &r, "signal", "15", NULL, NULL), 128 + 15,
	       "death by SIGTERM is 143");
	run_result_free(&r);
	is_int(run_child(NULL, &r, "signal", "9", NULL, NULL), 128 + 9,
	       "death by SIGKILL is 137");
	ok(!r.timed_out, "a child's own death is no timeout");
	run_result_free(&r);
}

static void test_spawn_failures(void)
{
	char *argv[] = { "ovl-test-no-such-program", NULL };
	char *abs[] = { "/nonexistent/ovl-test/prog", NULL };
	char tmpl[] = "/tmp/ovl-test-noexec-XXXXXX";
	struct run_result r;

	is_int(run_program(argv, NULL, &r), -1, "a missing program gives -1");
	is_int(r.spawn_errno, ENOENT, "... with ENOENT");
	ok(!r.out && !r.err, "... and no output buffers");
	run_result_free(&r);
	is_int(run_program(abs, &capture_both, &r), -1,
	       "a missing absolute path gives -1");
	is_int(r.spawn_errno, ENOENT, "... with ENOENT");
	run_result_free(&r);

	int fd = mkstemp(tmpl);
	ok(fd >= 0 && write(fd, "#!/bin/sh\n", 10) == 10 &&
	   fchmod(fd, 0644) == 0, "made a non-executable file");
	close(fd);
	char *noexec[] = { tmpl, NULL };
	is_int(run_program(noexec, &capture_both, &r), -1,
	       "a non-executable file gives -1");
	is_int(r.spawn_errno, EACCES, "... with EACCES");
	run_result_free(&r);
	unlink(tmpl);
}

static void test_path_lookup(void)
{
	char *saved = xstrdup(getenv("PATH") ? getenv("PATH") : "");
	char tmpd[] = "/tmp/ovl-test-path-XXXXXX";
	char *argv[] = { "child", "out", "found", NULL };
	struct run_result r;

	setenv("PATH", child_dir, 1);
	char *found = run_find_program("child");
	is_str(found, child_path, "run_find_program walks PATH");
	free(found);
	run_program(argv, &capture_both, &r);
	ok(r.status == 0 && r.out && !strcmp(r.out, "found\n"),
	   "a program is run through PATH");
	run_result_free(&r);

	/* A non-executable file and a directory of the same name earlier in
	 * PATH are passed over. */
	ok(mkdtemp(tmpd) != NULL, "made a temporary directory");
	char *decoy = xasprintf("%s/child", tmpd);
	char *dir = xasprintf("%s/sub", tmpd);
	int fd = open(decoy, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	close(fd);
	mkdir(dir, 0755);
	char *sub_child = xasprintf("%s/child", dir);
	mkdir(sub_child, 0755);
	char *path = xasprintf("%s:%s:%s", dir, tmpd, child_dir);
	setenv("PATH", path, 1);
	found = run_find_program("child");
	is_str(found, child_path, "the first executable regular file wins");
	free(found);

	setenv("PATH", tmpd, 1);
	errno = 0;
	found = run_find_program("child");
	ok(!found && errno == EACCES,
	   "found but not executable gives EACCES");
	free(found);
	is_int(run_program(argv, NULL, &r), -1, "... and run_program -1");
	is_int(r.spawn_errno, EACCES, "... with EACCES");
	run_result_free(&r);

	setenv("PATH", "/nonexistent", 1);
	errno = 0;
	found = run_find_program("child");
	ok(!found && errno == ENOENT, "not in PATH gives ENOENT");
	free(found);

	/* An empty element is the current directory. */
	int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ok(here >= 0 && chdir(child_dir) == 0, "chdir to the child's dir");
	setenv("PATH", "/nonexistent::/nonexistent2", 1);
	run_program(argv, &capture_both, &r);
	ok(r.status == 0 && r.out && !strcmp(r.out, "found\n"),
	   "an empty PATH element is the current directory");
	run_result_free(&r);
	if (here >= 0 && fchdir(here) < 0)
		perror("fchdir");
	close(here);

	found = run_find_program("./relative/name");
	is_str(found, "./relative/name", "a name with '/' is used as is");
	free(found);

	setenv("PATH", saved, 1);
	rmdir(sub_child);
	rmdir(dir);
	unlink(decoy);
	rmdir(tmpd);
	free(sub_child);
	free(path);
	free(dir);
	free(decoy);
	free(saved);
}

static void test_capture(void)
{
	struct run_result r;
	struct run_opts only_out = { .capture_stdout = true };
	const char *odd = "a b;$(false) *'\"\\";

	run_child(&capture_both, &r, "out", "hello", "err", "oops");
	is_str(r.out, "hello\n", "stdout captured");
	is_str(r.err, "oops\n", "stderr captured");
	ok(r.out_len == 6 && r.err_len == 5, "lengths match");
	run_result_free(&r);

	run_child(&capture_both, &r, "exit", "0", NULL, NULL);
	ok(r.out && r.err && !*r.out && !*r.err && !r.out_len,
	   "nothing written gives empty strings, not NULL");
	run_result_free(&r);

	run_child(&only_out, &r, "out", "x", NULL, NULL);
	ok(r.out && !r.err, "stderr not captured is NULL");
	run_result_free(&r);

	run_child(&capture_both, &r, "out", odd, NULL, NULL);
	struct strbuf want = STRBUF_INIT;
	sb_addf(&want, "%s\n", odd);
	is_str(r.out, sb_str(&want), "arguments reach the child untouched");
	sb_free(&want);
	run_result_free(&r);
}

static void test_big_output(void)
{
	const size_t n = 3 << 19;       /* 1.5 MiB on each stream */
	struct run_result r;
	char bytes[32];

	snprintf(bytes, sizeof bytes, "%zu", n);
	run_child(&capture_both, &r, "big", bytes, NULL, NULL);
	ok(r.status == 0 && !r.timed_out,
	   "1.5 MiB on stdout and stderr at once, no deadlock");
	ok(r.out_len == n && r.err_len == n, "all of both captured");
	ok(r.out && r.err && all_bytes(r.out, r.out_len, 'x') &&
	   all_bytes(r.err, r.err_len, 'x'), "... intact");
	ok(r.out && r.err && r.out[n] == '\0' && r.err[n] == '\0',
	   "... and NUL-terminated");
	run_result_free(&r);
}

static void check_timeout(const struct run_opts *o, const char *cmd,
			  const char *what)
{
	struct run_result r;
	long long t0 = now_ms();
	int s = run_child(o, &r, cmd, "5000", NULL, NULL);
	long long took = now_ms() - t0;

	ok(r.timed_out && s == 137 && r.status == 137,
	   "%s: killed at the deadline, status 137", what);
	ok(took >= 250 && took < 2000, "%s: returned in %lld ms", what, took);
	run_result_free(&r);
}

static void test_timeout(void)
{
	struct run_opts cap = capture_both, plain = { 0 };
	struct run_result r;

	cap.timeout_ms = plain.timeout_ms = 300;
	check_timeout(&cap, "sleep", "capturing");
	check_timeout(&plain, "sleep", "not capturing");
	check_timeout(&cap, "closefds-sleep", "pipes closed early");

	run_child(&cap, &r, "sleep", "10", "exit", "5");
	ok(!r.timed_out && r.status == 5, "a quick child beats the deadline");
	run_result_free(&r);
}

static volatile sig_atomic_t ticks;

static void on_alarm(int sig)
{
	(void)sig;
	ticks++;
}

/* A signal every millisecond, without SA_RESTART: every poll, read,
 * waitpid and nap in run.c is interrupted again and again. */
static void test_eintr(void)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct itimerval every_ms = { { 0, 1000 }, { 0, 1000 } }, off = { 0 };
	struct run_opts deadline = capture_both, plain = { 0 };
	struct run_result r;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	setitimer(ITIMER_REAL, &every_ms, NULL);
	run_child(&capture_both, &r, "sleep", "100", "out", "done");
	is_str(r.out, "done\n", "capture survives signals");
	run_result_free(&r);
	run_child(&plain, &r, "sleep", "100", "exit", "4");
	is_int(r.status, 4, "a blocking wait survives signals");
	run_result_free(&r);
	run_child(&deadline, &r, "closefds-sleep", "100", NULL, NULL);
	ok(r.status == 0 && !r.timed_out, "a waiting loop survives signals");
	run_result_free(&r);
	run_child(&capture_both, &r, "big", "1048576", NULL, NULL);
	ok(r.out_len == 1048576 && r.err_len == 1048576,
	   "big output survives signals");
	run_result_free(&r);
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	ok(ticks > 100, "signals did arrive (%d)", (int)ticks);
}

/* The child's own build: an ASan child reserves terabytes of shadow
 * memory, which no RLIMIT_AS of ours could allow. */
static bool child_has_asan(void)
{
	struct run_result r;
	bool asan;

	run_child(&capture_both, &r, "asan", NULL, NULL, NULL);
	asan = r.out && !strcmp(r.out, "asan\n");
	run_result_free(&r);
	return asan;
}

static void test_mem_limit(void)
{
	struct run_opts lim = capture_both, free_run = capture_both;
	struct run_result r;

	lim.mem_limit = 128ULL << 20;
	if (child_has_asan()) {
		for (int i = 0; i < 3; i++)
			skip("child built with AddressSanitizer",
			     "mem_limit test %d", i + 1);
		return;
	}
	/* The limit lands just after exec, not before it (see run.c); a
	 * child that allocates within microseconds of starting can beat it,
	 * so this one waits a little first, as any real runaway would. */
	run_child(&lim, &r, "sleep", "200", "alloc", "512");
	is_int(r.status, 42, "512 MiB under a 128 MiB limit fails");
	run_result_free(&r);
	run_child(&lim, &r, "alloc", "16", NULL, NULL);
	is_int(r.status, 0, "16 MiB under a 128 MiB limit works");
	run_result_free(&r);
	run_child(&free_run, &r, "alloc", "512", NULL, NULL);
	is_int(r.status, 0, "512 MiB without a limit works");
	run_result_free(&r);
}

/* Even with data waiting on our stdin, the child reads /dev/null. */
static void test_stdin(void)
{
	int saved = dup(STDIN_FILENO), p[2];
	struct run_result r;

	if (saved < 0 || pipe(p) < 0 || write(p[1], "data", 4) != 4 ||
	    dup2(p[0], STDIN_FILENO) < 0) {
		ok(false, "set up a pipe on stdin");
		return;
	}
	run_child(&capture_both, &r, "stdin", NULL, NULL, NULL);
	is_str(r.out, "eof\n", "the child's stdin is /dev/null");
	run_result_free(&r);
	dup2(saved, STDIN_FILENO);
	close(saved);
	close(p[0]);
	close(p[1]);
}

/* Every fd the child has above 2 must be one we hold without
 * close-on-exec (e.g. from make); our pipes must not be among them. */
static void test_child_fds(void)
{
	struct run_result r;
	bool clean = true;

	run_child(&capture_both, &r, "fds", NULL, NULL, NULL);
	for (char *p = r.out; p && *p && *p != '\n';) {
		char *end;
		int fd = (int)strtol(p, &end, 10), fl = fcntl(fd, F_GETFD);
		if (fl < 0 || (fl & FD_CLOEXEC)) {
			diag("fd %d leaked into the child", fd);
			clean = false;
		}
		p = *end == ' ' ? end + 1 : end;
	}
	ok(r.out && clean, "no pipe end leaks into the child");
	run_result_free(&r);
}

/* Whether the line of fd numbers the child printed holds FD. */
static bool fd_listed(const char *out, int fd)
{
	for (const char *p = out; p && *p && *p != '\n';) {
		char *end;
		if ((int)strtol(p, &end, 10) == fd)
			return true;
		p = *end == ' ' ? end + 1 : end;
	}
	return false;
}

/* keep_fds: a close-on-exec descriptor reaches the child at its number,
 * stays close-on-exec here, and reaches no other child. */
static void test_keep_fds(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct run_opts keep = capture_both;
	struct run_result r;

	keep.keep_fds = &fd;
	keep.n_keep_fds = 1;
	run_child(&keep, &r, "fds", NULL, NULL, NULL);
	ok(r.out && fd_listed(r.out, fd), "a kept fd reaches the child at its number");
	run_result_free(&r);
	ok(fcntl(fd, F_GETFD) & FD_CLOEXEC, "the kept fd stays close-on-exec in the parent");
	run_child(&capture_both, &r, "fds", NULL, NULL, NULL);
	ok(r.out && !fd_listed(r.out, fd), "another child does not get it");
	run_result_free(&r);
	close(fd);
}

/* One of the kinds of run, each leaving its fds to be closed its own way. */
static void run_kind(int kind)
{
	char *missing[] = { "ovl-test-no-such-program", NULL };
	char *noexec[] = { "/dev/null", NULL };   /* fails after the pipes */
	struct run_opts only_err = { .capture_stderr = true };
	struct run_opts quick = capture_both;
	struct run_result r;

	quick.timeout_ms = 20;
	switch (kind) {
	case 0: run_child(&capture_both, &r, "out", "x", "err", "y"); break;
	case 1: run_child(&only_err, &r, "exit", "1", NULL, NULL); break;
	case 2: run_child(NULL, &r, "exit", "0", NULL, NULL); break;
	case 3: run_program(missing, &capture_both, &r); break;
	case 4: run_program(noexec, &capture_both, &r); break;
	default: run_child(&quick, &r, "sleep", "5000", NULL, NULL); break;
	}
	run_result_free(&r);
}

static void test_no_fd_leak(void)
{
	int before = count_fds();

	for (int i = 0; i < 50; i++)
		run_kind(i % 10 == 9 ? 5 : i % 5);
	int after = count_fds();
	ok(before > 0 && before == after,
	   "no fd leaked over 50 runs (%d before, %d after)", before, after);
	ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD,
	   "every child was reaped");
}

int main(int argc, char **argv)
{
	(void)argc;
	find_child(argv[0]);
	diag("child: %s", child_path);
	plan(58);
	test_exit_codes();
	test_signals();
	test_spawn_failures();
	test_path_lookup();
	test_capture();
	test_big_output();
	test_timeout();
	test_eintr();
	test_mem_limit();
	test_stdin();
	test_child_fds();
	test_keep_fds();
	test_no_fd_leak();
	free(child_path);
	free(child_dir);
	return done_testing();
}
