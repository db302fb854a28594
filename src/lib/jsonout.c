#include "config.h"

#include <stddef.h>

#include "jsonout.h"

/* Length of the valid UTF-8 sequence at P (1-4), or 0. */
static size_t utf8_length(const unsigned char *p)
{
	size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;

	if (p[0] >= 0xf8)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static void put_char(FILE *f, const unsigned char *p, size_t *used)
{
	*used = 1;
	switch (*p) {
	case '"':  fputs("\\\"", f); return;
	case '\\': fputs("\\\\", f); return;
	case '\n': fputs("\\n", f); return;
	case '\t': fputs("\\t", f); return;
	case '\r': fputs("\\r", f); return;
	}
	if (*p < 0x20 || *p == 0x7f) {
		fprintf(f, "\\u%04x", *p);
	} else if (*p < 0x80) {
		putc(*p, f);
	} else if ((*used = utf8_length(p)) != 0) {
		fwrite(p, 1, *used, f);
	} else {
		fputs("\\ufffd", f);
		*used = 1;
	}
}

void json_put_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t used;

	if (!s) {
		fputs("null", f);
		return;
	}
	putc('"', f);
	for (; *p; p += used)
		put_char(f, p, &used);
	putc('"', f);
}
