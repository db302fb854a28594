/* Tests of parse.c and timefmt.c: counts, sizes and times from the command
 * line, and back. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"
#include "timefmt.h"
#include "tap.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)
#define PiB (UINT64_C(1) << 50)
#define EiB (UINT64_C(1) << 60)

typedef int parse_fn(const char *, uint64_t *);

static void good(parse_fn *fn, const char *name, const char *s, uint64_t want)
{
	uint64_t v = 0;
	int r = fn(s, &v);

	ok(r == 0 && v == want, "%s(\"%s\") = %" PRIu64, name, s, want);
	if (r != 0 || v != want)
		diag("  returned %d, value %" PRIu64, r, v);
}

static void bad(parse_fn *fn, const char *name, const char *s)
{
	uint64_t v = 12345;

	is_int(fn(s, &v), -1, "%s(\"%s\") is rejected", name, s);
}

static void test_uint64(void)
{
	static const char *const junk[] = {
		"", "-1", "+1", " 1", "1 ", "1x", "0x10", "1.5", "1e3",
		"18446744073709551616", "99999999999999999999",
	};

	good(parse_uint64, "parse_uint64", "0", 0);
	good(parse_uint64, "parse_uint64", "42", 42);
	good(parse_uint64, "parse_uint64", "007", 7);
	good(parse_uint64, "parse_uint64", "18446744073709551615", UINT64_MAX);
	for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
		bad(parse_uint64, "parse_uint64", junk[i]);
}

static void test_size_good(void)
{
	static const struct { const char *s; uint64_t v; } cases[] = {
		{ "0", 0 }, { "512", 512 }, { "512B", 512 },
		{ "64k", 64 * KiB }, { "64K", 64 * KiB },
		{ "64KiB", 64 * KiB }, { "64KB", 64 * KiB },
		{ "16M", 16 * MiB }, { "16MiB", 16 * MiB }, { "16m", 16 * MiB },
		{ "1.5G", GiB + GiB / 2 }, { "1.5GiB", GiB + GiB / 2 },
		{ "2T", 2 * TiB }, { "3p", 3 * PiB }, { "1E", EiB },
		{ "0K", 0 }, { "0.5K", 512 }, { "1.1K", 1126 },
		{ "0.001K", 1 }, { "0.0009K", 0 }, { "1.25M", MiB + MiB / 4 },
		{ "18446744073709551615", UINT64_MAX },
		{ "17179869183G", (UINT64_C(1) << 34) * GiB - GiB },
		{ "15.99999999999999999999E", UINT64_MAX },
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		good(parse_size, "parse_size", cases[i].s, cases[i].v);
}

static void test_size_bad(void)
{
	static const char *const junk[] = {
		"", "-1", "+1", " 1", "1 ", "1x", "1.5", "1.5B", "1.", ".5K",
		"1.K", "K", "B", "1KK", "1Ki", "1KiBB", "1iB", "1b", "1e3",
		"1,5G", "0x10", "16 M", "16E", "16.0E", "17179869184G",
		"18446744073709551616", "1Z",
	};

	for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
		bad(parse_size, "parse_size", junk[i]);
}

static void test_format(void)
{
	static const struct { uint64_t v; const char *s; } cases[] = {
		{ 0, "0 B" }, { 512, "512 B" }, { 1023, "1023 B" },
		{ KiB, "1 KiB" }, { 64 * KiB, "64 KiB" }, { 1536, "1.5 KiB" },
		{ 1025, "1.0 KiB" }, { 16 * MiB, "16 MiB" },
		{ GiB + GiB / 2, "1.5 GiB" }, { 2 * GiB - 1, "1.9 GiB" },
		{ 1023 * MiB, "1023 MiB" }, { 2 * TiB, "2 TiB" },
		{ PiB, "1 PiB" }, { EiB, "1 EiB" }, { UINT64_MAX, "15.9 EiB" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		is_str(format_size(cases[i].v, buf, sizeof buf), cases[i].s,
		       "format_size(%" PRIu64 ") = \"%s\"", cases[i].v,
		       cases[i].s);
	is_str(format_size(64 * KiB, buf, 4), "64 ",
	       "a short buffer is cut, still a string");
}

/* Whole sizes survive format_size and parse_size unchanged. */
static void test_round_trip(void)
{
	static const uint64_t sizes[] = { 0, 512, 64 * KiB, 16 * MiB,
					  3 * GiB, 5 * TiB };
	char buf[32];
	bool same = true;

	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		uint64_t v;
		format_size(sizes[i], buf, sizeof buf);
		/* "64 KiB" -> "64KiB": parse_size takes no spaces */
		char *sp = buf;
		while (*sp && *sp != ' ')
			sp++;
		if (*sp)
			memmove(sp, sp + 1, strlen(sp));
		if (parse_size(buf, &v) < 0 || v != sizes[i])
			same = false;
	}
	ok(same, "whole sizes round-trip through format and parse");
}

static void time_good(const char *s, int64_t want_s)
{
	int64_t us = 12345;
	int r = parse_time(s, &us);

	ok(r == 0 && us == want_s * 1000000, "parse_time(\"%s\") = @%" PRId64, s, want_s);
	if (r != 0 || us != want_s * 1000000)
		diag("  returned %d, value %" PRId64 " us", r, us);
}

/* The forms --time takes; TZ is UTC here (main), so local = UTC. */
static void test_time_good(void)
{
	time_good("@0", 0);
	time_good("@1704164645", 1704164645);
	time_good("@0001704164645", 1704164645);
	time_good("2024-01-02", 1704153600);
	time_good("2024-01-02T03:04", 1704164640);
	time_good("2024-01-02 03:04:05", 1704164645);
	time_good("2024-01-02T03:04:05Z", 1704164645);
	time_good("2024-01-02T03:04:05+01:00", 1704164645 - 3600);
	time_good("2024-01-02T03:04:05+0130", 1704164645 - 5400);
	time_good("2024-01-02T03:04:05-05", 1704164645 + 5 * 3600);
	time_good("2024-01-02Z", 1704153600);
	time_good("2024-02-29", 1709164800);
}

/* Stray signs, spaces and exponents are junk, wherever they stand: sscanf
 * and strtol would have taken most of them ("10:-5" as 9:55). */
static void test_time_bad(void)
{
	static const char *const junk[] = {
		"", "@", "@-5", "@+5", "@ 5", "@5 ", "@1e3", "@0x10", "@-0",
		"@9223372036854775807", "@99999999999999999999",
		" 12", "12", "+999", "-1", "1e3", "garbage",
		"2024-01-0-1", "2024-01- 1", "2024-01-+1", "2024-1-01", "2024-01-1",
		"+2024-01-01", "-2024-01-01", " 2024-01-01", "2024-01-01 ",
		"202-01-01", "20245-01-01", "2024/01/01", "2024-00-01", "2024-13-01",
		"2024-01-00", "2024-01-32", "2024-02-30", "2023-02-29",
		"2024-01-01T", "2024-01-01T10", "2024-01-01T10:-5", "2024-01-01T10:+5",
		"2024-01-01T-1:05", "2024-01-01T 1:05", "2024-01-01T10: 5",
		"2024-01-01T10:5", "2024-01-01T10:05:", "2024-01-01T10:05:-1",
		"2024-01-01T10:05:5", "2024-01-01T24:00", "2024-01-01T10:60",
		"2024-01-01T10:05:61", "2024-01-01T10:05x",
		"2024-01-01T10:05+", "2024-01-01T10:05+1", "2024-01-01T10:05+-1",
		"2024-01-01T10:05+ 1", "2024-01-01T10:05+01:", "2024-01-01T10:05+01:-1",
		"2024-01-01T10:05+01:5", "2024-01-01T10:05+01:00:00", "2024-01-01T10:05+15",
		"2024-01-01T10:05+0160", "2024-01-01T10:05z", "2024-01-01T10:05ZZ",
		"2024-01-01T10:05+01 ", "2024-01-04+01:0240", "2024-01-01T10:05+01:3030",
	};

	for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
		int64_t us = 12345;
		is_int(parse_time(junk[i], &us), -1, "parse_time(\"%s\") is rejected", junk[i]);
	}
}

int main(void)
{
	/* The local-time forms read as UTC, so the expected values hold
	 * on any machine. */
	setenv("TZ", "UTC", 1);
	tzset();
	test_uint64();
	test_size_good();
	test_size_bad();
	test_format();
	test_round_trip();
	test_time_good();
	test_time_bad();
	return done_testing();
}
