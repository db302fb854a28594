#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"
#include "timefmt.h"

const char *format_time_utc(int64_t us, char *buf, size_t len)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
	return buf;
}

const char *format_time_local(int64_t us, char *buf, size_t len)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (!localtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		buf[0] = '\0';
	return buf;
}

/*
 * "@EPOCH": whole seconds since the epoch, digits only.  A sign is a usage
 * error, not a time before 1970: no commit can be that old, and "@-5" is
 * far likelier a typo than a wish.
 */
static int parse_epoch(const char *s, int64_t *us)
{
	uint64_t v;

	if (parse_uint64(s, &v) < 0 || v > INT64_MAX / 1000000)
		return -1;
	*us = (int64_t)v * 1000000;
	return 0;
}

/*
 * Exactly N ASCII digits at *p into *out, *p moved past them; -1 (and *p
 * left alone) otherwise.  Not sscanf's %d: it skips spaces and takes a
 * sign, so "10:-5" would read as 9:55 and "2024-01- 1" as the first.
 */
static int fixed_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];   /* stops at the NUL: never reads past it */
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* The character C at *p, *p moved past it; -1 when another is there. */
static int expect_char(const char **p, char c)
{
	if (**p != c)
		return -1;
	(*p)++;
	return 0;
}

/* "Z", "+HH:MM", "+HHMM", "+HH" (sign either way); offset in seconds. */
static int parse_zone(const char *s, long *offset)
{
	int hh, mm = 0, sign;

	if (strcmp(s, "Z") == 0) {
		*offset = 0;
		return 0;
	}
	if (*s != '+' && *s != '-')
		return -1;
	sign = *s++ == '-' ? -1 : 1;
	if (fixed_digits(&s, 2, &hh) < 0)
		return -1;
	/* Minutes after a colon, or straight after the hours, or none. */
	if (*s == ':') {
		s++;
		if (fixed_digits(&s, 2, &mm) < 0)
			return -1;
	} else if (*s && fixed_digits(&s, 2, &mm) < 0) {
		return -1;
	}
	if (*s || hh > 14 || mm > 59)
		return -1;
	*offset = (hh * 3600L + mm * 60L) * sign;
	return 0;
}

/* "HH:MM[:SS]" at *p into tm, *p moved past it. */
static int parse_clock(const char **p, struct tm *tm)
{
	if (fixed_digits(p, 2, &tm->tm_hour) < 0 || expect_char(p, ':') < 0 ||
	    fixed_digits(p, 2, &tm->tm_min) < 0)
		return -1;
	if (**p == ':' && (expect_char(p, ':') < 0 || fixed_digits(p, 2, &tm->tm_sec) < 0))
		return -1;
	return 0;
}

/* Fields of "YYYY-MM-DD[(T| )HH:MM[:SS]]"; rest points past them. */
static int parse_fields(const char *s, struct tm *tm, const char **rest)
{
	memset(tm, 0, sizeof(*tm));
	if (fixed_digits(&s, 4, &tm->tm_year) < 0 || expect_char(&s, '-') < 0 ||
	    fixed_digits(&s, 2, &tm->tm_mon) < 0 || expect_char(&s, '-') < 0 ||
	    fixed_digits(&s, 2, &tm->tm_mday) < 0)
		return -1;
	if (*s == 'T' || *s == ' ') {
		s++;
		if (parse_clock(&s, tm) < 0)
			return -1;
	}
	*rest = s;
	if (tm->tm_mon < 1 || tm->tm_mon > 12 || tm->tm_mday < 1 || tm->tm_mday > 31 ||
	    tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60)
		return -1;
	tm->tm_year -= 1900;
	tm->tm_mon -= 1;
	return 0;
}

int parse_time(const char *s, int64_t *us)
{
	struct tm tm, check;
	const char *rest;
	long offset;
	time_t t;

	if (*s == '@')
		return parse_epoch(s + 1, us);
	if (parse_fields(s, &tm, &rest) < 0)
		return -1;
	check = tm;
	if (*rest) {
		if (parse_zone(rest, &offset) < 0)
			return -1;
		t = timegm(&tm) - offset;
	} else {
		tm.tm_isdst = -1;
		t = mktime(&tm);
	}
	/* mktime/timegm normalise 2026-02-31 into March: refuse that. */
	if (t == (time_t)-1 || tm.tm_mday != check.tm_mday || tm.tm_mon != check.tm_mon)
		return -1;
	*us = (int64_t)t * 1000000;
	return 0;
}
