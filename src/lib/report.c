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

static void vreport(const char *tag, const char *subject, int errnum,
		    const char *fmt, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;
	char *msg, *shown;

	if (muted)
		return;
	sb_addf(&sb, "%s: ", progname);
	if (tag)
		sb_addf(&sb, "%s: ", tag);
	if (subject)
		sb_addf(&sb, "%s: ", ovl_quote(subject));
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	shown = ovl_unalias(msg ? msg : fmt);
	sb_add(&sb, shown);
	free(shown);
	free(msg);
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
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	/* A line at a time: a run killed later keeps what it said. */
	fflush(stdout);
}

static void quote_char(struct strbuf *sb, unsigned char c, bool quoted)
{
	if (c == '\'' && !quoted) {
		sb_addn(sb, "'", 1);
		return;
	}
	switch (c) {
	case '\n': sb_add(sb, "\\n"); return;
	case '\t': sb_add(sb, "\\t"); return;
	case '\\': sb_add(sb, "\\\\"); return;
	case '\'': sb_add(sb, "\\'"); return;
	}
	if (c < 0x20 || c == 0x7f)
		sb_addf(sb, "\\x%02x", c);
	else
		sb_addn(sb, (const char *)&c, 1);
}

static const char *escape_into_ring(const char *name, const char *quote)
{
	/* Per thread: checks and maps run in threads and may report. */
	static _Thread_local char *ring[4];
	static _Thread_local unsigned next;
	struct strbuf sb = STRBUF_INIT;
	char *shown = ovl_unalias(name);

	sb_add(&sb, quote);
	for (const char *p = shown; *p; p++)
		quote_char(&sb, (unsigned char)*p, *quote != '\0');
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
	return escape_into_ring(name, "'");
}

const char *ovl_escape(const char *text)
{
	return escape_into_ring(text, "");
}
