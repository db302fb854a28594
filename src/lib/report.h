/*
 * Messages to the user.  Errors go to stderr as
 *   PROG: 'SUBJECT': WHAT: WHY
 * with the subject (usually a file) quoted so that odd names stay readable.
 */
#ifndef OVL_REPORT_H
#define OVL_REPORT_H

#include <stdbool.h>

void ovl_set_progname(const char *argv0);
const char *ovl_progname(void);

/* -q: silence ovl_note(); errors and warnings are never silenced. */
void ovl_set_quiet(bool quiet);
bool ovl_is_quiet(void);
/* Drop errors and warnings reported from the calling thread: for work done
 * ahead on a guess, whose failure is reported when it is done for real. */
void ovl_mute_thread(bool mute);

/* "PROG: 'subject': MESSAGE" (subject may be NULL). */
void ovl_error(const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Same, with ": strerror(errnum)" appended. */
void ovl_error_errno(const char *subject, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "PROG: warning: 'subject': MESSAGE" */
void ovl_warn(const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Progress and plan lines on stdout, unless quiet. */
void ovl_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The one escaping rule for text that reaches a terminal (names, messages,
 * tags, guest file names, qemu-img's and libguestfs's own words):
 *   - valid UTF-8 that prints stays as it is (é, 日本);
 *   - a byte that is a C0 control, DEL, or not part of well-formed UTF-8
 *     becomes \xNN (\n and \t keep their short forms);
 *   - a character that is a C1 control (U+0080-U+009F), a line or
 *     paragraph separator or a bidirectional control becomes \uNNNN;
 *   - a backslash becomes \\ (not in OVL_ESC_LINE), and in OVL_ESC_QUOTED
 *     a quote becomes \'.
 * So the output is valid UTF-8 with no control character in it.  NULL
 * is taken as "".
 */
struct strbuf;
enum ovl_escape_mode {
	OVL_ESC_TEXT,    /* a value in a table or message */
	OVL_ESC_QUOTED,  /* a value between '...' */
	OVL_ESC_LINE,    /* a whole line made of escaped values: backslashes stay */
};
void ovl_escape_add(struct strbuf *sb, const char *text, enum ovl_escape_mode mode);

/*
 * A file name quoted for a message: '...' escaped as above
 * (OVL_ESC_QUOTED).  Returns a buffer that stays valid until the fourth
 * call after this one (messages quote at most a few names at once).
 */
const char *ovl_quote(const char *name);
/* The same escaping without the quotes (OVL_ESC_TEXT: text in tables). */
const char *ovl_escape(const char *text);

/*
 * Names under PREFIX (the /proc/self/fd/N a store is reached through, see
 * store.h) are shown to the user under SHOWN instead: in subjects, in
 * ovl_quote/ovl_escape and in message text.  SHOWN NULL drops PREFIX.
 */
void ovl_path_alias(const char *prefix, const char *shown);
/* TEXT with every aliased prefix replaced by what it shows, malloc'ed. */
char *ovl_unalias(const char *text);

#endif
