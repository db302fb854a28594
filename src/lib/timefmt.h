/* Times as the tools print and read them. */
#ifndef OVL_TIMEFMT_H
#define OVL_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* "2026-11-24T11:45:00Z" (ISO 8601, UTC, whole seconds). */
const char *format_time_utc(int64_t us, char *buf, size_t len);
/* "2026-11-24 12:45:00" in the local time zone. */
const char *format_time_local(int64_t us, char *buf, size_t len);

/*
 * A point in time for --time: "@EPOCH" (seconds), an ISO 8601 date
 * ("2026-11-24": its first second) or date-time ("2026-11-24T12:30",
 * "...:45", a space instead of T), local time unless a zone follows ("Z",
 * "+01:00", "-0500").  Microseconds since the epoch; -1 on junk.  Every
 * field has exactly its digits: a sign or space anywhere but before a
 * zone ("@-5", "10:-5", " 12", "2024-01- 1") is junk.
 */
int parse_time(const char *s, int64_t *us);

#endif
