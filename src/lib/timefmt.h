/* Times as the tools print and read them. */
#ifndef OVL_TIMEFMT_H
#define OVL_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* "2026-11-24T11:45:00Z" (ISO 8601, UTC, whole seconds). */
const char *format_time_utc(int64_t us, char *buf, size_t len);
/* "2026-11-24 12:45:00" in the local time zone. */
const char *format_time_local(int64_t us, char *buf, size_t len);

#endif
