/*
 * Tests of retention.c: which commits a prune policy keeps (restic's
 * "forget" rules: last, hourly, daily, weekly, monthly, within), and the
 * DURATION values of --keep-within.
 *
 * The time buckets are local time; every test sets TZ explicitly (UTC,
 * unless it is about the zone) so that the results do not depend on the
 * machine.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "retention.h"
#include "tap.h"

#define HOUR_US (INT64_C(3600) * 1000000)
#define MAX_TIMES 16

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

/* "YYYY-MM-DD HH:MM" (UTC) in microseconds since the epoch. */
static int64_t at(const char *when)
{
	struct tm tm;
	int y, mo, d, h, mi;

	if (sscanf(when, "%d-%d-%d %d:%d", &y, &mo, &d, &h, &mi) != 5) {
		fprintf(stderr, "# bad time in test: %s\n", when);
		abort();
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return (int64_t)timegm(&tm) * 1000000;
}

/* A policy with no rule given. */
static struct retention_policy none(void)
{
	struct retention_policy p = { -1, -1, -1, -1, -1, -1 };
	return p;
}

/*
 * Apply P to the N times WHEN (ascending) and compare the decisions with
 * WANT, a string of N characters: 'k' kept, '.' not kept.
 */
static void check(const char *what, const struct retention_policy *p, const char *const *when,
		  size_t n, const char *want)
{
	int64_t times[MAX_TIMES];
	bool keep[MAX_TIMES];
	char got[MAX_TIMES + 1];

	if (n > MAX_TIMES || strlen(want) != n) {
		fprintf(stderr, "# bad test case: %s\n", what);
		abort();
	}
	for (size_t k = 0; k < n; k++) {
		times[k] = at(when[k]);
		keep[k] = (k % 2) == 0;   /* junk: retention_apply must set every entry */
	}
	retention_apply(p, times, n, keep);
	for (size_t k = 0; k < n; k++)
		got[k] = keep[k] ? 'k' : '.';
	got[n] = '\0';
	is_str(got, want, "%s", what);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const five_days[] = {
	"2021-03-01 08:00", "2021-03-01 20:00", "2021-03-02 09:00",
	"2021-03-04 23:59", "2021-03-05 00:00",
};

static void test_nothing(void)
{
	struct retention_policy p = none();
	int64_t t = 0;
	bool keep = true;

	check("no rule given keeps nothing", &p, five_days, N(five_days), ".....");
	p.last = 3;
	retention_apply(&p, &t, 0, &keep);
	ok(keep, "an empty history is left alone (nothing read or written)");
}

static void test_last(void)
{
	struct retention_policy p = none();

	p.last = 2;
	check("last 2 keeps the two newest", &p, five_days, N(five_days), "...kk");
	p.last = 1;
	check("last 1 keeps the newest", &p, five_days, N(five_days), "....k");
	p.last = 5;
	check("last 5 of 5 keeps all", &p, five_days, N(five_days), "kkkkk");
	p.last = 100;
	check("last 100 of 5 keeps all", &p, five_days, N(five_days), "kkkkk");
	p.last = 0;
	check("last 0 keeps nothing", &p, five_days, N(five_days), ".....");
}

static void test_hourly(void)
{
	static const char *const t[] = {
		"2021-03-01 10:05", "2021-03-01 10:40", "2021-03-01 11:10",
		"2021-03-01 11:50", "2021-03-01 12:30", "2021-03-01 12:31",
		/* the same hour of the next day is another hour */
		"2021-03-02 12:00",
	};
	struct retention_policy p = none();

	p.hourly = 1;
	check("hourly 1: the newest commit of the newest hour", &p, t, N(t), "......k");
	p.hourly = 2;
	check("hourly 2: the newest of each of the 2 newest hours", &p, t, N(t), ".....kk");
	p.hourly = 4;
	check("hourly 4: the newest of each of 4 hours", &p, t, N(t), ".k.k.kk");
	p.hourly = 50;
	check("hourly 50: one per hour that has commits", &p, t, N(t), ".k.k.kk");
	p.hourly = 0;
	check("hourly 0 keeps nothing", &p, t, N(t), ".......");
}

static void test_daily(void)
{
	struct retention_policy p = none();

	p.daily = 1;
	check("daily 1: the newest commit", &p, five_days, N(five_days), "....k");
	p.daily = 3;
	check("daily 3: the newest of 3 days (days without commits do not count)", &p,
	      five_days, N(five_days), "..kkk");
	p.daily = 10;
	check("daily 10: one per day that has commits", &p, five_days, N(five_days), ".kkkk");
}

static void test_daily_local_time(void)
{
	/* 13:00Z and 15:00Z: one day in UTC, two days at UTC+10. */
	static const char *const t[] = { "2021-03-01 13:00", "2021-03-01 15:00" };
	struct retention_policy p = none();

	p.daily = 10;
	check("daily, TZ=UTC: 13:00Z and 15:00Z are one day", &p, t, N(t), ".k");
	set_tz("UTC-10");
	check("daily, TZ=UTC-10: 13:00Z and 15:00Z are two days (local time)", &p, t, N(t), "kk");
	set_tz("UTC");
}

static void test_weekly(void)
{
	/* ISO weeks: 2020-12-28 (Mon) .. 2021-01-03 (Sun) is 2020-W53. */
	static const char *const t[] = {
		"2020-12-28 09:00",   /* Mon, 2020-W53 */
		"2020-12-31 09:00",   /* Thu, 2020-W53 */
		"2021-01-03 09:00",   /* Sun, 2020-W53 */
		"2021-01-04 09:00",   /* Mon, 2021-W01 */
		"2021-01-10 23:00",   /* Sun, 2021-W01 */
		"2021-01-11 00:30",   /* Mon, 2021-W02 */
	};
	/* And the other way: 2019-12-30 (Mon) is already 2020-W01. */
	static const char *const u[] = {
		"2019-12-23 09:00",   /* Mon, 2019-W52 */
		"2019-12-29 09:00",   /* Sun, 2019-W52 */
		"2019-12-30 09:00",   /* Mon, 2020-W01 */
		"2020-01-05 09:00",   /* Sun, 2020-W01 */
	};
	struct retention_policy p = none();

	p.weekly = 1;
	check("weekly 1: the newest commit", &p, t, N(t), ".....k");
	p.weekly = 2;
	check("weekly 2: Sunday ends an ISO week, Monday starts one", &p, t, N(t), "....kk");
	p.weekly = 3;
	check("weekly 3: 2020-12-31 and 2021-01-03 are one ISO week (2020-W53)", &p, t, N(t),
	      "..k.kk");
	p.weekly = 10;
	check("weekly 10: one per ISO week across the year boundary", &p, t, N(t), "..k.kk");
	check("weekly 10: 2019-12-30 and 2020-01-05 are one ISO week (2020-W01)", &p, u, N(u),
	      ".k.k");
}

static void test_monthly(void)
{
	static const char *const t[] = {
		"2021-01-31 23:59", "2021-02-01 00:00", "2021-02-28 12:00",
		"2021-03-15 12:00",
		/* March of the next year is another month */
		"2022-03-01 00:00",
	};
	struct retention_policy p = none();

	p.monthly = 1;
	check("monthly 1: the newest commit", &p, t, N(t), "....k");
	p.monthly = 3;
	check("monthly 3: the newest of 3 months; 2021-03 and 2022-03 differ", &p, t, N(t),
	      "..kkk");
	p.monthly = 12;
	check("monthly 12: one per month that has commits", &p, t, N(t), "k.kkk");
}

static void test_within(void)
{
	static const char *const t[] = {
		"2001-05-01 09:00", "2001-05-01 10:00", "2001-05-01 11:00",
		"2001-05-01 11:30", "2001-05-01 12:00",
	};
	struct retention_policy p = none();

	/* Relative to the newest commit (2001), not to now. */
	p.within_us = HOUR_US;
	check("within 1h of the newest (the boundary included)", &p, t, N(t), "..kkk");
	p.within_us = HOUR_US / 2;
	check("within 30m of the newest", &p, t, N(t), "...kk");
	p.within_us = 0;
	check("within 0: only the newest", &p, t, N(t), "....k");
	p.within_us = 24 * HOUR_US;
	check("within 1d keeps commits made long ago, relative to the newest", &p, t, N(t),
	      "kkkkk");
}

static void test_union(void)
{
	static const char *const t[] = {
		"2021-01-15 10:00", "2021-02-10 10:00", "2021-02-20 10:00",
		"2021-03-01 08:00", "2021-03-01 09:00", "2021-03-01 10:00",
		"2021-03-01 11:00",
	};
	struct retention_policy p = none();

	p.last = 1;
	p.monthly = 3;
	check("last 1 + monthly 3: kept by either rule", &p, t, N(t), "k.k...k");
	p = none();
	p.within_us = HOUR_US;
	p.monthly = 2;
	check("within 1h + monthly 2: kept by either rule", &p, t, N(t), "..k..kk");
	p = none();
	p.last = 2;
	p.hourly = 2;
	check("last 2 + hourly 2: overlapping rules keep each commit once", &p, t, N(t),
	      ".....kk");
	p.daily = 2;
	check("last 2 + hourly 2 + daily 2", &p, t, N(t), "..k..kk");
	p.weekly = 5;
	check("... + weekly 5", &p, t, N(t), "kkk..kk");
}

static void good(const char *s, int64_t hours)
{
	int64_t us = -12345;
	int rc = parse_duration(s, &us);

	ok(rc == 0 && us == hours * HOUR_US, "parse_duration(\"%s\") = %" PRId64 " h", s, hours);
	if (rc != 0 || us != hours * HOUR_US)
		diag("  returned %d, %" PRId64 " us", rc, us);
}

static void bad(const char *s)
{
	int64_t us = -12345;

	is_int(parse_duration(s, &us), -1, "parse_duration(\"%s\") is rejected", s);
}

static void test_parse_duration(void)
{
	static const char *const junk[] = {
		"", "5", "h", "5q", "5w", "5s", "1H", "1D", "-1h", "+1h", "1.5h", " 1h", "1h ",
		"1h-", "1 h", "h1", "1hh", "1y2", "0x10h", "7days", "99999999999999999999h",
	};

	good("1h", 1);
	good("12h", 12);
	good("0h", 0);
	good("7d", 7 * 24);
	good("2m", 2 * 30 * 24);
	good("1y", 365 * 24);
	good("1y2m3d4h", 365 * 24 + 2 * 30 * 24 + 3 * 24 + 4);
	good("4h3d", 3 * 24 + 4);
	good("007d", 7 * 24);
	good("1000000h", 1000000);
	for (size_t k = 0; k < N(junk); k++)
		bad(junk[k]);
	/* Too long to count in int64 microseconds: refused, never wrapped
	 * around into a short (or negative) duration. */
	bad("300000y");
	bad("9999999y");
	bad("4000000m");
	bad("200000y200000y");
}

int main(void)
{
	set_tz("UTC");
	test_nothing();
	test_last();
	test_hourly();
	test_daily();
	test_daily_local_time();
	test_weekly();
	test_monthly();
	test_within();
	test_union();
	test_parse_duration();
	return done_testing();
}
