#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static int parse_epoch(const char *s, int64_t *us)
{
	char *end;
	long long v;

	if (!isdigit((unsigned char)*s) && *s != '-')
		return -1;
	v = strtoll(s, &end, 10);
	if (*end || v > INT64_MAX / 1000000 || v < INT64_MIN / 1000000)
		return -1;
	*us = (int64_t)v * 1000000;
	return 0;
}

/* "Z", "+HH:MM", "+HHMM", "+HH" (sign either way); offset in seconds. */
static int parse_zone(const char *s, long *offset)
{
	int hh, mm = 0, n = 0;

	if (strcmp(s, "Z") == 0) {
		*offset = 0;
		return 0;
	}
	if ((*s != '+' && *s != '-') ||
	    !(sscanf(s + 1, "%2d:%2d%n", &hh, &mm, &n) == 2 ||
	      sscanf(s + 1, "%2d%2d%n", &hh, &mm, &n) == 2 ||
	      sscanf(s + 1, "%2d%n", &hh, &n) == 1) ||
	    s[1 + n] || hh > 14 || mm > 59)
		return -1;
	*offset = (hh * 3600L + mm * 60L) * (*s == '-' ? -1 : 1);
	return 0;
}

/* Fields of "YYYY-MM-DD[(T| )HH:MM[:SS]]"; rest points past them. */
static int parse_fields(const char *s, struct tm *tm, const char **rest)
{
	int n = 0;

	memset(tm, 0, sizeof(*tm));
	if (sscanf(s, "%4d-%2d-%2d%n", &tm->tm_year, &tm->tm_mon, &tm->tm_mday, &n) != 3 || n != 10)
		return -1;
	s += n;
	if (*s == 'T' || *s == ' ') {
		if (sscanf(s + 1, "%2d:%2d%n", &tm->tm_hour, &tm->tm_min, &n) != 2 || n != 5)
			return -1;
		s += 1 + n;
		if (*s == ':') {
			if (sscanf(s + 1, "%2d%n", &tm->tm_sec, &n) != 1 || n != 2)
				return -1;
			s += 1 + n;
		}
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
