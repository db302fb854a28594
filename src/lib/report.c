#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "strbuf.h"
#include "utf8.h"

static const char *progname = "ovl";
static bool quiet;
static _Thread_local bool muted;

void ovl_set_progname(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');
	progname = slash ? slash + 1 : argv0;
}

const char *ovl_progname(void) { return progname; }
void ovl_set_quiet(bool q) { quiet = q; }
bool ovl_is_quiet(void) { return quiet; }
void ovl_mute_thread(bool m) { muted = m; }

/* A store is open at a time, two during a recovery at most. */
#define MAX_ALIASES 8
static struct alias { char *prefix, *shown; } aliases[MAX_ALIASES];
static pthread_mutex_t alias_lock = PTHREAD_MUTEX_INITIALIZER;

void ovl_path_alias(const char *prefix, const char *shown)
{
	pthread_mutex_lock(&alias_lock);
	for (int i = 0; i < MAX_ALIASES; i++)
		if (aliases[i].prefix && strcmp(aliases[i].prefix, prefix) == 0) {
			free(aliases[i].prefix);
			free(aliases[i].shown);
			aliases[i].prefix = aliases[i].shown = NULL;
		}
	for (int i = 0; shown && i < MAX_ALIASES; i++)
		if (!aliases[i].prefix) {
			aliases[i].prefix = xstrdup(prefix);
			aliases[i].shown = xstrdup(shown);
			break;
		}
	pthread_mutex_unlock(&alias_lock);
}

/* The alias whose prefix starts P and ends where a name part ends
 * ("/proc/self/fd/5" must not match "/proc/self/fd/57"), or NULL. */
static const struct alias *alias_at(const char *p)
{
	for (int i = 0; i < MAX_ALIASES; i++) {
		size_t n = aliases[i].prefix ? strlen(aliases[i].prefix) : 0;
		if (n && strncmp(p, aliases[i].prefix, n) == 0 && !isdigit((unsigned char)p[n]))
			return &aliases[i];
	}
	return NULL;
}

char *ovl_unalias(const char *text)
{
	struct strbuf sb = STRBUF_INIT;
	const struct alias *a;

	if (!text)
		return xstrdup("");
	pthread_mutex_lock(&alias_lock);
	for (const char *p = text; *p;) {
		if (*p == '/' && (a = alias_at(p))) {
			sb_add(&sb, a->shown);
			p += strlen(a->prefix);
		} else
			sb_addn(&sb, p++, 1);
	}
	pthread_mutex_unlock(&alias_lock);
	return sb_detach(&sb);
}

/* FMT with AP, escaped as a whole line (OVL_ESC_LINE): whatever a caller
 * put in a message unquoted (qemu-img's words, a guest's error text)
 * cannot reach the terminal raw, and what ovl_quote() escaped already
 * passes unchanged. */
static void add_line(struct strbuf *sb, const char *fmt, va_list ap)
{
	char *msg, *shown;

	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	shown = ovl_unalias(msg ? msg : fmt);
	ovl_escape_add(sb, shown, OVL_ESC_LINE);
	free(shown);
	free(msg);
}

static void vreport(const char *tag, const char *subject, int errnum,
		    const char *fmt, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;

	if (muted)
		return;
	ovl_escape_add(&sb, progname, OVL_ESC_TEXT);
	sb_add(&sb, ": ");
	if (tag)
		sb_addf(&sb, "%s: ", tag);
	if (subject)
		sb_addf(&sb, "%s: ", ovl_quote(subject));
	add_line(&sb, fmt, ap);
	if (errnum)
		sb_addf(&sb, ": %s", strerror(errnum));
	/* One write, so lines from parallel tools do not interleave. */
	fflush(stdout);
	fprintf(stderr, "%s\n", sb_str(&sb));
	sb_free(&sb);
}

void ovl_error(const char *subject, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(NULL, subject, 0, fmt, ap);
	va_end(ap);
}

void ovl_error_errno(const char *subject, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(NULL, subject, errnum, fmt, ap);
	va_end(ap);
}

void ovl_warn(const char *subject, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport("warning", subject, 0, fmt, ap);
	va_end(ap);
}

void ovl_note(const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	add_line(&sb, fmt, ap);
	va_end(ap);
	puts(sb_str(&sb));
	sb_free(&sb);
	/* A line at a time: a run killed later keeps what it said. */
	fflush(stdout);
}

/* One byte that is not text (a C0 control, DEL, or a bad byte). */
static void escape_byte(struct strbuf *sb, unsigned char c)
{
	if (c == '\n')
		sb_add(sb, "\\n");
	else if (c == '\t')
		sb_add(sb, "\\t");
	else
		sb_addf(sb, "\\x%02x", c);
}

/* The character CP of LEN bytes at P, escaped by MODE; a control whose
 * byte is ASCII goes as a byte, the rest as \uNNNN. */
static void escape_char(struct strbuf *sb, const char *p, size_t len, uint32_t cp,
			enum ovl_escape_mode mode)
{
	if (cp < 0x80 && utf8_is_control(cp))
		escape_byte(sb, (unsigned char)cp);
	else if (utf8_is_control(cp))
		sb_addf(sb, "\\u%04x", (unsigned)cp);
	else if (cp == '\\' && mode != OVL_ESC_LINE)
		sb_add(sb, "\\\\");
	else if (cp == '\'' && mode == OVL_ESC_QUOTED)
		sb_add(sb, "\\'");
	else
		sb_addn(sb, p, len);
}

/* How many bytes at P need no escaping in MODE: printable ASCII but the
 * backslash and the quote (a fast path; the rest goes a byte or a
 * character at a time). */
static size_t plain_run(const unsigned char *p, enum ovl_escape_mode mode)
{
	size_t n = 0;

	while (p[n] >= 0x20 && p[n] < 0x7f &&
	       !(p[n] == '\\' && mode != OVL_ESC_LINE) && !(p[n] == '\'' && mode == OVL_ESC_QUOTED))
		n++;
	return n;
}

/* TEXT escaped by MODE onto SB (report.h has the rule); decoding restarts
 * at the byte after a bad one, so one bad byte costs one \xNN. */
void ovl_escape_add(struct strbuf *sb, const char *text, enum ovl_escape_mode mode)
{
	const unsigned char *p = (const unsigned char *)(text ? text : "");
	uint32_t cp;
	size_t len;

	sb_add(sb, "");   /* "" is still a string */
	while (*p) {
		if ((len = plain_run(p, mode)) != 0) {
			sb_addn(sb, (const char *)p, len);
		} else if ((len = utf8_decode(p, &cp)) != 0) {
			escape_char(sb, (const char *)p, len, cp, mode);
		} else {
			escape_byte(sb, *p);   /* not UTF-8: this byte alone */
			len = 1;
		}
		p += len;
	}
}

static const char *escape_into_ring(const char *name, enum ovl_escape_mode mode)
{
	/* Per thread: checks and maps run in threads and may report. */
	static _Thread_local char *ring[4];
	static _Thread_local unsigned next;
	const char *quote = mode == OVL_ESC_QUOTED ? "'" : "";
	struct strbuf sb = STRBUF_INIT;
	char *shown = ovl_unalias(name);

	sb_add(&sb, quote);
	ovl_escape_add(&sb, shown, mode);
	sb_add(&sb, quote);
	free(shown);
	free(ring[next]);
	ring[next] = sb_detach(&sb);
	const char *out = ring[next];
	next = (next + 1) % 4;
	return out;
}

const char *ovl_quote(const char *name)
{
	return escape_into_ring(name, OVL_ESC_QUOTED);
}

const char *ovl_escape(const char *text)
{
	return escape_into_ring(text, OVL_ESC_TEXT);
}
