/*
 * Strict UTF-8 (Unicode 3.9 table 3-7): what the escaping of human
 * output (report.c) and the JSON writer (jsonout.c) count as text.
 * Overlong forms, UTF-16 surrogates (U+D800-U+DFFF) and anything past
 * U+10FFFF are not UTF-8; each of their bytes is a bad byte.
 */
#ifndef OVL_UTF8_H
#define OVL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length (1-4) of the well-formed sequence that starts at P, with its
 * code point in *CP; 0 when the byte at P starts none.  P is a
 * NUL-terminated string: a sequence cut short by the NUL is not one. */
size_t utf8_decode(const unsigned char *p, uint32_t *cp);

/* Is S (NUL-terminated) well-formed UTF-8 from end to end? */
bool utf8_valid(const char *s);

/*
 * Characters that are text but must not reach a terminal as they are:
 * C0 controls, DEL, C1 controls (U+0080-U+009F), and the characters that
 * break or reorder a line without showing (U+2028, U+2029 and the
 * bidirectional controls U+061C, U+200E, U+200F, U+202A-U+202E,
 * U+2066-U+2069).  Both outputs escape exactly these and the bad bytes.
 */
bool utf8_is_control(uint32_t cp);

#endif
