/*
 * Which commits a retention policy keeps, with restic's "forget"
 * semantics: a commit is kept when any rule keeps it.
 *   last N      the N newest
 *   hourly N    the newest commit of each of the N newest hours that have
 *               commits (likewise daily, weekly (ISO weeks), monthly), in
 *               local time
 *   within D    every commit no older than D before the newest one
 * Pure: times in, decisions out.
 */
#ifndef OVL_RETENTION_H
#define OVL_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct retention_policy {
	int64_t last, hourly, daily, weekly, monthly;   /* -1: rule not given */
	int64_t within_us;                              /* -1: rule not given */
};

/* times_us ascending (oldest first); keep[i] set for kept commits. */
void retention_apply(const struct retention_policy *p, const int64_t *times_us, size_t n,
		     bool *keep);

/* "1y2m3d4h" (years, months, days, hours; restic's units) in microseconds
 * (a month 30 days, a year 365); -1 on junk. */
int parse_duration(const char *s, int64_t *us);

#endif
