/*
 * A minimal TAP producer for the C unit tests, header-only.
 *
 *   plan(3);  or nothing, and done_testing() at the end
 *   ok(cond, "what %s", ...);
 *   is_int(got, want, "what");
 *   is_str(got, want, "what");     NULL compares equal only to NULL
 *   skip("why", "what");
 *   return done_testing();
 *
 * Failures print the values on stderr as "# " comments, which the
 * automake TAP driver shows in the log.  done_testing() returns the exit
 * status: 0 when every test passed, 1 otherwise.
 */
#ifndef OVL_TAP_H
#define OVL_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int tap_count;
static int tap_failed;
static int tap_planned = -1;

static inline void plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

static inline __attribute__((format(printf, 3, 0)))
void tap_vresult(bool pass, const char *directive, const char *fmt, va_list ap)
{
	char desc[512];

	/* A newline in a description would end the TAP line early. */
	vsnprintf(desc, sizeof desc, fmt, ap);
	printf("%sok %d - ", pass ? "" : "not ", ++tap_count);
	for (const char *p = desc; *p; p++)
		if (*p == '\n')
			fputs("\\n", stdout);
		else
			putchar(*p);
	if (directive)
		printf(" # %s", directive);
	printf("\n");
	fflush(stdout);	/* keep our lines in order with the children's */
	if (!pass)
		tap_failed++;
}

static inline __attribute__((format(printf, 2, 3)))
bool ok(bool pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, NULL, fmt, ap);
	va_end(ap);
	return pass;
}

static inline __attribute__((format(printf, 3, 4)))
bool is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;
	bool pass = got == want;

	va_start(ap, fmt);
	tap_vresult(pass, NULL, fmt, ap);
	va_end(ap);
	if (!pass)
		fprintf(stderr, "#   got: %lld\n#  want: %lld\n", got, want);
	return pass;
}

static inline __attribute__((format(printf, 3, 4)))
bool is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	bool pass = (got && want) ? !strcmp(got, want) : got == want;

	va_start(ap, fmt);
	tap_vresult(pass, NULL, fmt, ap);
	va_end(ap);
	if (!pass)
		fprintf(stderr, "#   got: %s%s%s\n#  want: %s%s%s\n",
			got ? "'" : "", got ? got : "NULL", got ? "'" : "",
			want ? "'" : "", want ? want : "NULL", want ? "'" : "");
	return pass;
}

/* A test that could not run here; counts as passed. */
static inline __attribute__((format(printf, 2, 3)))
void skip(const char *why, const char *fmt, ...)
{
	char directive[256];
	va_list ap;

	snprintf(directive, sizeof directive, "SKIP %s", why);
	va_start(ap, fmt);
	tap_vresult(true, directive, fmt, ap);
	va_end(ap);
}

/* Diagnostics that the TAP driver shows but does not count. */
static inline __attribute__((format(printf, 1, 2)))
void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputs("\n", stdout);
	fflush(stdout);
}

static inline int done_testing(void)
{
	if (tap_planned < 0)
		printf("1..%d\n", tap_count);
	else if (tap_planned != tap_count) {
		printf("# planned %d tests but ran %d\n", tap_planned,
		       tap_count);
		tap_failed++;
	}
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

#endif
