/*
 * The command-line value parsers: parse_uint64 and parse_size
 * (src/lib/parse.c), parse_time (src/lib/timefmt.c) and parse_duration
 * (src/lib/retention.c), each on the input as a string.  Root types these
 * values, but scripts build them from data (cron jobs, other tools'
 * output), and a value taken wrongly picks the wrong commit to undo to or
 * the wrong ones to prune.
 *
 * Checked besides memory safety, for every value a parser accepts: no
 * sign, space or other stray character got through (the contract: such
 * values are usage errors), and a count or size prints back as it was
 * read.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <time.h>

#include "fuzz-common.h"
#include "parse.h"
#include "retention.h"
#include "timefmt.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet();
	/* Local times read as UTC: the same result on every machine, and
	 * no time zone file read on every input. */
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

/* Every character of S is in SET. */
static int only(const char *s, const char *set)
{
	return s[strspn(s, set)] == '\0';
}

static void check_uint64(const char *s)
{
	uint64_t v;
	char back[32];

	if (parse_uint64(s, &v) < 0)
		return;
	FUZZ_CHECK(*s && only(s, "0123456789"));
	snprintf(back, sizeof(back), "%" PRIu64, v);
	const char *digits = s + strspn(s, "0");   /* leading zeros dropped */
	FUZZ_CHECK(strcmp(back, *digits ? digits : "0") == 0);
}

static void check_size(const char *s)
{
	uint64_t v, whole;
	char buf[32];

	if (parse_size(s, &v) < 0)
		return;
	FUZZ_CHECK(isdigit((unsigned char)s[0]) && only(s, "0123456789.kKmMgGtTpPeEiB"));
	if (parse_uint64(s, &whole) == 0)
		FUZZ_CHECK(whole == v);
	format_size(v, buf, sizeof(buf));
}

/*
 * The shape of an accepted date-time: only digits and "-:T Z+"; a 4-digit
 * year first, then runs of 2 digits (a last run of 4 after a sign: a zone
 * "+0130"); every other character between two digits but a final "Z".
 * So no sign or space stands where a digit belongs ("10:-5", "01- 1").
 */
static void check_time_shape(const char *s)
{
	size_t run;

	FUZZ_CHECK(only(s, "0123456789-:T Z+") && strspn(s, "0123456789") == 4);
	for (size_t i = 4; s[i]; i += run ? run : 1) {
		run = strspn(s + i, "0123456789");
		if (run) {
			FUZZ_CHECK(run == 2 || (run == 4 && !s[i + 4] && strchr("+-", s[i - 1])));
			continue;
		}
		FUZZ_CHECK(isdigit((unsigned char)s[i - 1]));
		FUZZ_CHECK(isdigit((unsigned char)s[i + 1]) || (s[i] == 'Z' && !s[i + 1]));
	}
}

static void check_time(const char *s)
{
	int64_t us;
	char buf[64];

	if (parse_time(s, &us) < 0)
		return;
	if (s[0] == '@') {
		FUZZ_CHECK(s[1] && only(s + 1, "0123456789") && us >= 0);
	} else {
		check_time_shape(s);
	}
	format_time_utc(us, buf, sizeof(buf));
	format_time_local(us, buf, sizeof(buf));
}

static void check_duration(const char *s)
{
	int64_t us;

	if (parse_duration(s, &us) < 0)
		return;
	FUZZ_CHECK(isdigit((unsigned char)s[0]) && only(s, "0123456789ymdh") && us >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size);

	check_uint64(s);
	check_size(s);
	check_time(s);
	check_duration(s);
	free(s);
	return 0;
}
