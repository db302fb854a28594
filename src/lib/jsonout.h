/*
 * The one JSON writer of every tool's --output=json: values go straight
 * to a stream as they are given (a 10,000-commit list never sits in
 * memory), commas and nesting kept by the writer.
 *
 * The rule for text, which is bytes (names, messages, tags):
 *   - it is always written, never dropped: NULL is null;
 *   - a byte that is not part of well-formed UTF-8 (utf8.h) becomes
 *     U+FFFD; a field written with jw_field_string() whose text had such
 *     bytes is followed by a field KEY_bytes that holds the exact bytes,
 *     each as the character of the same number (latin-1: "\u00e9" is the
 *     byte 0xe9), so that a reader gets them back (Python:
 *     d["name_bytes"].encode("latin-1"));
 *   - what is escaped for a terminal in human output (C0, DEL, C1, line
 *     separators, bidirectional controls: utf8_is_control()) is written
 *     \uNNNN, so the JSON can be shown on a terminal too; '"' and '\' are
 *     \" and \\.
 * The output is ASCII-safe valid JSON (RFC 8259) that any parser reads.
 */
#ifndef OVL_JSONOUT_H
#define OVL_JSONOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JW_MAX_DEPTH 16

struct json_writer {
	FILE *f;
	int depth;                          /* open objects and arrays */
	bool has_member[JW_MAX_DEPTH];      /* the open container at each depth */
	bool after_key;                     /* a key was written, its value is next */
	size_t len;                         /* bytes in buf, not yet written to f */
	char buf[4096];
};

void jw_init(struct json_writer *w, FILE *f);
/* Containers; nesting deeper than JW_MAX_DEPTH aborts (a bug, not data). */
void jw_object_begin(struct json_writer *w);
void jw_object_end(struct json_writer *w);
void jw_array_begin(struct json_writer *w);
void jw_array_end(struct json_writer *w);
/* A key inside an object (a name of ours: plain ASCII, written as it
 * is); the next call writes its value. */
void jw_key(struct json_writer *w, const char *key);

/* Values.  jw_string returns false when S had bytes that are not UTF-8
 * (written as U+FFFD). */
bool jw_string(struct json_writer *w, const char *s);
void jw_int(struct json_writer *w, int64_t v);
void jw_uint(struct json_writer *w, uint64_t v);
void jw_bool(struct json_writer *w, bool v);
void jw_null(struct json_writer *w);
/* A number with up to 6 decimals; null when V is not finite. */
void jw_double(struct json_writer *w, double v);

/* KEY: value, in an object.  jw_field_string adds KEY_bytes when S is
 * not UTF-8 (see above). */
void jw_field_string(struct json_writer *w, const char *key, const char *s);
void jw_field_int(struct json_writer *w, const char *key, int64_t v);
void jw_field_uint(struct json_writer *w, const char *key, uint64_t v);
void jw_field_bool(struct json_writer *w, const char *key, bool v);
void jw_field_double(struct json_writer *w, const char *key, double v);
/* KEY: [S...], and when any of them is not UTF-8, KEY_bytes: an array
 * as long, with each one's exact bytes where it is not UTF-8 and null
 * where it is. */
void jw_field_strings(struct json_writer *w, const char *key, const char *const *v, size_t n);

/* End the document with a newline and write out what the writer holds
 * (nothing reaches F before this, or before a few KiB are held); the
 * stream's error state, 0 or -1. */
int jw_finish(struct json_writer *w);

#endif
