/* Parsing and printing of command-line values: counts and sizes. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "strbuf.h"

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * The leading run of digits of s into *out; *end is set after it.
 * Fails on no digits and on overflow.  strtoull is not used because it
 * takes signs and spaces, and "-1" must not become UINT64_MAX.
 */
static int parse_digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	for (; is_digit(*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (p == s)
		return -1;
	*out = v;
	*end = p;
	return 0;
}

int parse_uint64(const char *s, uint64_t *out)
{
	const char *end;
	uint64_t v;

	if (parse_digits(s, &v, &end) < 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* The power of two a size suffix stands for, or -1 for none. */
static int suffix_shift(char c)
{
	static const char units[] = "kmgtpe";
	const char *u;

	if (c == '\0')
		return -1;
	if (c >= 'A' && c <= 'Z')
		c = (char)(c - 'A' + 'a');
	u = strchr(units, c);
	return u ? 10 * (int)(u - units + 1) : -1;
}

/*
 * floor(0.DIGITS * 2^shift), exactly: the decimal fraction is doubled
 * shift times, each carry out of it being the next binary digit.  Floating
 * point would round "1.1T" differently on different machines.
 */
static uint64_t fraction_bits(const char *digits, size_t n, int shift)
{
	char *f = xmalloc(n ? n : 1);
	uint64_t bits = 0;

	for (size_t i = 0; i < n; i++)
		f[i] = (char)(digits[i] - '0');
	for (int s = 0; s < shift; s++) {
		int carry = 0;
		for (size_t i = n; i-- > 0;) {
			int d = f[i] * 2 + carry;
			carry = d >= 10;
			f[i] = (char)(d % 10);
		}
		bits = bits * 2 + (uint64_t)carry;
	}
	free(f);
	return bits;
}

/* After a unit suffix: nothing, "B" or "iB". */
static int unit_tail_ok(const char *p)
{
	return !strcmp(p, "") || !strcmp(p, "B") || !strcmp(p, "iB");
}

int parse_size(const char *s, uint64_t *out)
{
	const char *p, *frac = NULL;
	size_t nfrac = 0;
	uint64_t whole;

	if (parse_digits(s, &whole, &p) < 0)
		return -1;
	if (*p == '.') {
		frac = ++p;
		while (is_digit(*p))
			p++;
		nfrac = (size_t)(p - frac);
		if (nfrac == 0)
			return -1;	/* "1." and "1.K" are typos, not sizes */
	}
	int shift = suffix_shift(*p);
	if (shift < 0) {
		/* Bytes: only a whole number, optionally followed by "B". */
		if (frac || (strcmp(p, "") && strcmp(p, "B")))
			return -1;
		*out = whole;
		return 0;
	}
	if (!unit_tail_ok(p + 1))
		return -1;
	if (whole > (UINT64_MAX >> shift))
		return -1;
	uint64_t v = whole << shift;
	uint64_t part = frac ? fraction_bits(frac, nfrac, shift) : 0;
	if (v > UINT64_MAX - part)
		return -1;
	*out = v + part;
	return 0;
}

/*
 * The largest binary unit the size reaches, with one decimal when it is
 * not a whole number of them.  The decimal is rounded down, so a size is
 * never overstated (1023.99 KiB stays below "1024.0 KiB").
 */
const char *format_size(uint64_t bytes, char *buf, unsigned len)
{
	static const char *const units[] = {
		"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB",
	};
	int u = 0;

	while (u < 6 && bytes >> (10 * (u + 1)))
		u++;
	uint64_t unit = (uint64_t)1 << (10 * u);
	unsigned long long whole = bytes >> (10 * u);
	uint64_t rem = bytes & (unit - 1);

	if (rem == 0)
		snprintf(buf, len, "%llu %s", whole, units[u]);
	else
		snprintf(buf, len, "%llu.%u %s", whole,
			 (unsigned)(rem * 10 / unit), units[u]);
	return buf;
}
