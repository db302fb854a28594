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
			putc(',', w->f);
		w->has_member[w->depth - 1] = true;
	}
}

static void open_container(struct json_writer *w, char c)
{
	separate(w);
	if (w->depth == JW_MAX_DEPTH)
		abort();   /* no output of ours nests this deep */
	w->has_member[w->depth++] = false;
	putc(c, w->f);
}

static void close_container(struct json_writer *w, char c)
{
	if (w->depth == 0)
		abort();
	w->depth--;
	putc(c, w->f);
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

/* The character CP of LEN bytes at P, in a JSON string. */
static void put_char(FILE *f, const unsigned char *p, size_t len, uint32_t cp)
{
	if (cp == '"' || cp == '\\') {
		putc('\\', f);
		putc((int)cp, f);
	} else if (cp == '\n') {
		fputs("\\n", f);
	} else if (cp == '\t') {
		fputs("\\t", f);
	} else if (utf8_is_control(cp)) {
		fprintf(f, "\\u%04" PRIx32, cp);
	} else {
		fwrite(p, 1, len, f);
	}
}

/* S's text between quotes; false when a bad byte became U+FFFD. */
static bool put_text(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	bool valid = true;
	uint32_t cp;
	size_t len;

	putc('"', f);
	while (*p) {
		if ((len = plain_run(p)) != 0) {
			fwrite(p, 1, len, f);
		} else if ((len = utf8_decode(p, &cp)) != 0) {
			put_char(f, p, len, cp);
		} else {
			fputs("\\ufffd", f);
			valid = false;
			len = 1;
		}
		p += len;
	}
	putc('"', f);
	return valid;
}

/* S's bytes, each as the character of its number (latin-1), ASCII-only. */
static void put_bytes(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len;

	putc('"', f);
	for (; *p; p += len) {
		len = plain_run(p);
		if (len) {
			fwrite(p, 1, len, f);
		} else {
			len = 1;
			if (*p < 0x80)
				put_char(f, p, 1, *p);
			else
				fprintf(f, "\\u%04x", *p);
		}
	}
	putc('"', f);
}

void jw_key(struct json_writer *w, const char *key)
{
	separate(w);
	put_text(w->f, key);
	putc(':', w->f);
	w->after_key = true;
}

bool jw_string(struct json_writer *w, const char *s)
{
	separate(w);
	if (!s) {
		fputs("null", w->f);
		return true;
	}
	return put_text(w->f, s);
}

void jw_int(struct json_writer *w, int64_t v)
{
	separate(w);
	fprintf(w->f, "%" PRId64, v);
}

void jw_uint(struct json_writer *w, uint64_t v)
{
	separate(w);
	fprintf(w->f, "%" PRIu64, v);
}

void jw_bool(struct json_writer *w, bool v)
{
	separate(w);
	fputs(v ? "true" : "false", w->f);
}

void jw_null(struct json_writer *w)
{
	separate(w);
	fputs("null", w->f);
}

void jw_double(struct json_writer *w, double v)
{
	separate(w);
	if (isfinite(v))
		fprintf(w->f, "%.6f", v);
	else
		fputs("null", w->f);   /* JSON has no NaN or infinity */
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
		put_bytes(w->f, s);
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
			fputs("null", w->f);
		else
			put_bytes(w->f, v[i]);
	}
	jw_array_end(w);
}

int jw_finish(struct json_writer *w)
{
	putc('\n', w->f);
	return ferror(w->f) ? -1 : 0;
}
