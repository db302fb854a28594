#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "utf8.h"

void jw_init(struct json_writer *w, FILE *f)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
}

/* Output goes through the writer's own buffer, a stdio call per few KiB:
 * a 10,000-commit list makes some 200,000 small writes, and stdio's
 * per-call locking would cost more than the writing. */
static void flush(struct json_writer *w)
{
	fwrite(w->buf, 1, w->len, w->f);
	w->len = 0;
}

static void out(struct json_writer *w, const void *p, size_t n)
{
	if (w->len + n > sizeof(w->buf)) {
		flush(w);
		if (n > sizeof(w->buf)) {
			fwrite(p, 1, n, w->f);
			return;
		}
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void out_c(struct json_writer *w, char c)
{
	if (w->len == sizeof(w->buf))
		flush(w);
	w->buf[w->len++] = c;
}

static void out_s(struct json_writer *w, const char *s)
{
	out(w, s, strlen(s));
}

/* Before any value or key: the comma that separates it from the one
 * before, unless it is the value of the key just written. */
static void separate(struct json_writer *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth > 0) {
		if (w->has_member[w->depth - 1])
			out_c(w, ',');
		w->has_member[w->depth - 1] = true;
	}
}

static void open_container(struct json_writer *w, char c)
{
	separate(w);
	if (w->depth == JW_MAX_DEPTH)
		abort();   /* no output of ours nests this deep */
	w->has_member[w->depth++] = false;
	out_c(w, c);
}

static void close_container(struct json_writer *w, char c)
{
	if (w->depth == 0)
		abort();
	w->depth--;
	out_c(w, c);
}

void jw_object_begin(struct json_writer *w) { open_container(w, '{'); }
void jw_object_end(struct json_writer *w) { close_container(w, '}'); }
void jw_array_begin(struct json_writer *w) { open_container(w, '['); }
void jw_array_end(struct json_writer *w) { close_container(w, ']'); }

/* How many bytes at P go out as they are: printable ASCII but '"' and
 * '\' (the fast path of a string). */
static size_t plain_run(const unsigned char *p)
{
	size_t n = 0;

	while (p[n] >= 0x20 && p[n] < 0x7f && p[n] != '"' && p[n] != '\\')
		n++;
	return n;
}

/* \uNNNN for CP (at most U+FFFF: only controls get here). */
static void put_u(struct json_writer *w, uint32_t cp)
{
	static const char hex[] = "0123456789abcdef";
	char e[6] = { '\\', 'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
		      hex[cp & 15] };

	out(w, e, sizeof(e));
}

/* The character CP of LEN bytes at P, in a JSON string. */
static void put_char(struct json_writer *w, const unsigned char *p, size_t len, uint32_t cp)
{
	if (cp == '"' || cp == '\\') {
		out_c(w, '\\');
		out_c(w, (char)cp);
	} else if (cp == '\n') {
		out_s(w, "\\n");
	} else if (cp == '\t') {
		out_s(w, "\\t");
	} else if (utf8_is_control(cp)) {
		put_u(w, cp);
	} else {
		out(w, p, len);
	}
}

/* S's text between quotes; false when a bad byte became U+FFFD. */
static bool put_text(struct json_writer *w, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	bool valid = true;
	uint32_t cp;
	size_t len;

	out_c(w, '"');
	while (*p) {
		if ((len = plain_run(p)) != 0) {
			out(w, p, len);
		} else if ((len = utf8_decode(p, &cp)) != 0) {
			put_char(w, p, len, cp);
		} else {
			out_s(w, "\\ufffd");
			valid = false;
			len = 1;
		}
		p += len;
	}
	out_c(w, '"');
	return valid;
}

/* S's bytes, each as the character of its number (latin-1), ASCII-only. */
static void put_bytes(struct json_writer *w, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len;

	out_c(w, '"');
	for (; *p; p += len) {
		len = plain_run(p);
		if (len) {
			out(w, p, len);
		} else {
			len = 1;
			if (*p < 0x80)
				put_char(w, p, 1, *p);
			else
				put_u(w, *p);
		}
	}
	out_c(w, '"');
}

void jw_key(struct json_writer *w, const char *key)
{
	separate(w);
	/* Keys are this program's own words: no escaping to look for. */
	out_c(w, '"');
	out_s(w, key);
	out(w, "\":", 2);
	w->after_key = true;
}

bool jw_string(struct json_writer *w, const char *s)
{
	separate(w);
	if (!s) {
		out_s(w, "null");
		return true;
	}
	return put_text(w, s);
}

/* V in decimal, with a '-' when NEG: by hand, since a list writes
 * tens of thousands of numbers and printf costs several times more. */
static void put_decimal(struct json_writer *w, uint64_t v, bool neg)
{
	char buf[24], *p = buf + sizeof(buf);

	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	if (neg)
		*--p = '-';
	out(w, p, (size_t)(buf + sizeof(buf) - p));
}

void jw_int(struct json_writer *w, int64_t v)
{
	separate(w);
	/* -(v + 1) + 1: INT64_MIN has no positive int64_t */
	put_decimal(w, v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v, v < 0);
}

void jw_uint(struct json_writer *w, uint64_t v)
{
	separate(w);
	put_decimal(w, v, false);
}

void jw_bool(struct json_writer *w, bool v)
{
	separate(w);
	out_s(w, v ? "true" : "false");
}

void jw_null(struct json_writer *w)
{
	separate(w);
	out_s(w, "null");
}

void jw_double(struct json_writer *w, double v)
{
	char num[400];   /* %f of DBL_MAX has 309 digits */

	separate(w);
	if (isfinite(v) && snprintf(num, sizeof(num), "%.6f", v) < (int)sizeof(num))
		out_s(w, num);
	else
		out_s(w, "null");   /* JSON has no NaN or infinity */
}

/* The key KEY_bytes, for the exact bytes of KEY's text. */
static void bytes_key(struct json_writer *w, const char *key)
{
	char *name = malloc(strlen(key) + sizeof("_bytes"));

	if (!name)
		abort();
	strcpy(name, key);
	strcat(name, "_bytes");
	jw_key(w, name);
	free(name);
}

void jw_field_string(struct json_writer *w, const char *key, const char *s)
{
	jw_key(w, key);
	if (!jw_string(w, s)) {
		bytes_key(w, key);
		separate(w);
		put_bytes(w, s);
	}
}

void jw_field_int(struct json_writer *w, const char *key, int64_t v)
{
	jw_key(w, key);
	jw_int(w, v);
}

void jw_field_uint(struct json_writer *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	jw_uint(w, v);
}

void jw_field_bool(struct json_writer *w, const char *key, bool v)
{
	jw_key(w, key);
	jw_bool(w, v);
}

void jw_field_double(struct json_writer *w, const char *key, double v)
{
	jw_key(w, key);
	jw_double(w, v);
}

void jw_field_strings(struct json_writer *w, const char *key, const char *const *v, size_t n)
{
	bool all_valid = true;

	jw_key(w, key);
	jw_array_begin(w);
	for (size_t i = 0; i < n; i++)
		all_valid &= jw_string(w, v[i]);
	jw_array_end(w);
	if (all_valid)
		return;
	bytes_key(w, key);
	jw_array_begin(w);
	for (size_t i = 0; i < n; i++) {
		separate(w);
		if (!v[i] || utf8_valid(v[i]))
			out_s(w, "null");
		else
			put_bytes(w, v[i]);
	}
	jw_array_end(w);
}

int jw_finish(struct json_writer *w)
{
	out_c(w, '\n');
	flush(w);
	return ferror(w->f) ? -1 : 0;
}
