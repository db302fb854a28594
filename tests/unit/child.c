/*
 * A program for the runner tests to start, standing in for qemu-img.  It
 * does what its arguments say, left to right, so that each behaviour is
 * reached without a shell:
 *
 *   exit N              exit with status N
 *   signal N            raise signal N
 *   sleep MS            sleep MS milliseconds
 *   out TEXT            print TEXT and a newline on stdout
 *   err TEXT            print TEXT and a newline on stderr
 *   big BYTES           write BYTES bytes to stdout, then the same to stderr,
 *                       in turns, so that both pipes fill at once
 *   alloc MB            malloc MB MiB and touch it; exit 42 if malloc fails
 *   closefds-sleep MS   close stdout and stderr, then sleep MS
 *   stdin               print "eof" if stdin reads end-of-file at once,
 *                       else "data" or "error"
 *   fds                 print the numbers of our open fds above 2, one
 *                       line, space-separated (empty line for none)
 *   asan                print "asan" if built with AddressSanitizer, else
 *                       "plain" (its shadow memory defeats an RLIMIT_AS)
 *
 * Exits 0 after the last command; 2 on a command it does not know.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHILD_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CHILD_ASAN 1
#endif

static long num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end) {
		fprintf(stderr, "child: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			exit(3);
		p += w;
		n -= (size_t)w;
	}
}

/* Alternate stdout and stderr in chunks: a parent reading only one pipe
 * at a time would deadlock here. */
static void big(long bytes)
{
	char buf[4096];

	memset(buf, 'x', sizeof buf);
	fflush(stdout);
	while (bytes > 0) {
		size_t n = bytes < (long)sizeof buf ? (size_t)bytes : sizeof buf;
		write_all(STDOUT_FILENO, buf, n);
		write_all(STDERR_FILENO, buf, n);
		bytes -= (long)n;
	}
}

static void alloc(long mb)
{
	size_t n = (size_t)mb << 20;
	char *p = malloc(n);

	if (!p)
		exit(42);
	memset(p, 1, n);	/* really use it, not just reserve it */
	free(p);
}

static void report_stdin(void)
{
	char c;
	ssize_t n;

	while ((n = read(STDIN_FILENO, &c, 1)) < 0 && errno == EINTR)
		;
	puts(n == 0 ? "eof" : n > 0 ? "data" : "error");
}

static void closefds_sleep(long ms)
{
	fflush(stdout);
	fflush(stderr);
	close(STDOUT_FILENO);
	close(STDERR_FILENO);
	sleep_ms(ms);
}

static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	const char *sep = "";

	if (!d)
		exit(3);
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] == '.' || fd <= 2 || fd == dirfd(d))
			continue;
		printf("%s%d", sep, fd);
		sep = " ";
	}
	closedir(d);
	putchar('\n');
}

static void asan(void)
{
#ifdef CHILD_ASAN
	puts("asan");
#else
	puts("plain");
#endif
}

/* One command at argv[i]; returns how many arguments it used. */
static int command(int argc, char **argv, int i)
{
	const char *cmd = argv[i];
	const char *arg = i + 1 < argc ? argv[i + 1] : NULL;

	if (!strcmp(cmd, "stdin")) {
		report_stdin();
		return 1;
	}
	if (!strcmp(cmd, "fds")) {
		list_fds();
		return 1;
	}
	if (!strcmp(cmd, "asan")) {
		asan();
		return 1;
	}
	if (!arg) {
		fprintf(stderr, "child: '%s' needs an argument\n", cmd);
		exit(2);
	}
	if (!strcmp(cmd, "exit")) {
		fflush(NULL);
		exit((int)num(arg));
	} else if (!strcmp(cmd, "signal")) {
		fflush(NULL);
		raise((int)num(arg));
	} else if (!strcmp(cmd, "sleep")) {
		sleep_ms(num(arg));
	} else if (!strcmp(cmd, "out")) {
		puts(arg);
	} else if (!strcmp(cmd, "err")) {
		fprintf(stderr, "%s\n", arg);
	} else if (!strcmp(cmd, "big")) {
		big(num(arg));
	} else if (!strcmp(cmd, "alloc")) {
		alloc(num(arg));
	} else if (!strcmp(cmd, "closefds-sleep")) {
		closefds_sleep(num(arg));
	} else {
		fprintf(stderr, "child: unknown command '%s'\n", cmd);
		exit(2);
	}
	return 2;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc;)
		i += command(argc, argv, i);
	return 0;
}
