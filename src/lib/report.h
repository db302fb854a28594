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
 * A file name quoted for a message: '...' with control characters,
 * backslashes and quotes escaped C-style.  Returns a buffer that stays
 * valid until the fourth call after this one (messages quote at most a
 * few names at once).
 */
const char *ovl_quote(const char *name);
/* The same escaping without the quotes (for text in tables). */
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
