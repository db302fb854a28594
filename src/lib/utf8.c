#include "config.h"

#include "utf8.h"

/* The byte after a lead byte, by lead: its allowed range (table 3-7).
 * Narrower than 80..BF only after E0 (no overlongs), ED (no
 * surrogates), F0 (no overlongs) and F4 (nothing past U+10FFFF). */
static bool second_ok(unsigned char lead, unsigned char c)
{
	unsigned char lo = 0x80, hi = 0xbf;

	if (lead == 0xe0)
		lo = 0xa0;
	else if (lead == 0xed)
		hi = 0x9f;
	else if (lead == 0xf0)
		lo = 0x90;
	else if (lead == 0xf4)
		hi = 0x8f;
	return c >= lo && c <= hi;
}

size_t utf8_decode(const unsigned char *p, uint32_t *cp)
{
	size_t n;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	/* C0 and C1 lead only overlong forms; F5 and up lead nothing. */
	if (p[0] < 0xc2 || p[0] > 0xf4)
		return 0;
	n = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
	if (!second_ok(p[0], p[1]))
		return 0;
	*cp = p[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)   /* also stops at the NUL */
			return 0;
		*cp = (*cp << 6) | (p[i] & 0x3f);
	}
	return n;
}

bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t n;

	for (; *p; p += n)
		if ((n = utf8_decode(p, &cp)) == 0)
			return false;
	return true;
}

bool utf8_is_control(uint32_t cp)
{
	if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
		return true;
	return cp == 0x061c || cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}
