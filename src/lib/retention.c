#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "retention.h"

enum bucket { HOUR, DAY, WEEK, MONTH };

/* The local-time bucket a commit falls in, as a comparable string. */
static void bucket_of(int64_t us, enum bucket b, char *out, size_t len)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	int week_day, iso_week;

	if (!localtime_r(&t, &tm)) {
		snprintf(out, len, "?");
		return;
	}
	switch (b) {
	case HOUR:
		snprintf(out, len, "%d-%03d-%02d", tm.tm_year, tm.tm_yday, tm.tm_hour);
		break;
	case DAY:
		snprintf(out, len, "%d-%03d", tm.tm_year, tm.tm_yday);
		break;
	case WEEK:
		/* ISO 8601 week: the week holding this week's Thursday. */
		week_day = (tm.tm_wday + 6) % 7;           /* Monday 0 */
		tm.tm_mday += 3 - week_day;
		tm.tm_isdst = -1;
		mktime(&tm);
		iso_week = tm.tm_yday / 7;
		snprintf(out, len, "%d-W%02d", tm.tm_year, iso_week);
		break;
	case MONTH:
		snprintf(out, len, "%d-%02d", tm.tm_year, tm.tm_mon);
		break;
	}
}

/* Newest first: keep the first commit seen in each new bucket, up to N. */
static void keep_buckets(const int64_t *times, size_t n, enum bucket b, int64_t count, bool *keep)
{
	char last[32] = "", cur[32];
	int64_t taken = 0;

	for (size_t i = n; i-- > 0 && taken < count;) {
		bucket_of(times[i], b, cur, sizeof(cur));
		if (strcmp(cur, last) != 0) {
			keep[i] = true;
			taken++;
			memcpy(last, cur, sizeof(last));
		}
	}
}

void retention_apply(const struct retention_policy *p, const int64_t *times, size_t n, bool *keep)
{
	const int64_t counts[] = { p->hourly, p->daily, p->weekly, p->monthly };

	memset(keep, 0, n * sizeof(*keep));
	for (size_t k = 0; p->last > 0 && k < n && k < (uint64_t)p->last; k++)
		keep[n - 1 - k] = true;
	for (int b = HOUR; b <= MONTH; b++)
		if (counts[b] > 0)
			keep_buckets(times, n, (enum bucket)b, counts[b], keep);
	if (p->within_us >= 0 && n)
		for (size_t i = 0; i < n; i++)
			if (times[i] >= times[n - 1] - p->within_us)
				keep[i] = true;
}

int parse_duration(const char *s, int64_t *us)
{
	static const struct { char unit; int64_t hours; } units[] = {
		{ 'y', 365 * 24 }, { 'm', 30 * 24 }, { 'd', 24 }, { 'h', 1 },
	};
	int64_t total = 0;
	int parts = 0;

	while (*s) {
		int64_t n = 0;
		if (*s < '0' || *s > '9')
			return -1;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (n > 1000000)
				return -1;
			n = n * 10 + (*s - '0');
		}
		size_t u = 0;
		while (u < 4 && units[u].unit != *s)
			u++;
		if (u == 4)
			return -1;
		/* Hours, kept below what microseconds can hold. */
		const int64_t max_hours = INT64_MAX / 3600 / 1000000;
		if (n > (max_hours - total) / units[u].hours)
			return -1;
		total += n * units[u].hours;
		s++;
		parts++;
	}
	if (!parts)
		return -1;
	*us = total * 3600 * 1000000;
	return 0;
}
