/*
 * Tests of the one escaping rule for human output (report.c, utf8.c):
 * controls (C0, DEL, C1 as characters and as raw bytes), ESC sequences,
 * every kind of ill-formed UTF-8, valid text unchanged, NULL; and that
 * messages reported with ovl_error()/ovl_note() are escaped as a line.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "strbuf.h"
#include "tap.h"
#include "utf8.h"

/* TEXT through ovl_escape() is WANT (descriptions name the case, since
 * the raw text would itself be unsafe in the TAP log). */
static void esc(const char *what, const char *text, const char *want)
{
	is_str(ovl_escape(text), want, "escape: %s", what);
}

static void test_controls(void)
{
	esc("plain ASCII", "vm disk 1.ovl", "vm disk 1.ovl");
	esc("newline and tab", "a\nb\tc", "a\\nb\\tc");
	esc("carriage return", "a\rb", "a\\x0db");
	esc("NUL-free C0 range ends", "\x01x\x1f", "\\x01x\\x1f");
	esc("ESC sequence (title)", "\x1b]0;pwned\a", "\\x1b]0;pwned\\x07");
	esc("ESC sequence (clear)", "\x1b[2J", "\\x1b[2J");
	esc("DEL", "a\x7f", "a\\x7f");
	esc("C1 CSI as UTF-8", "a\xc2\x9b" "2J", "a\\u009b2J");
	esc("C1 NEL and APC as UTF-8", "\xc2\x85\xc2\x9f", "\\u0085\\u009f");
	esc("C1 CSI as a raw byte", "a\x9b" "2J", "a\\x9b2J");
	esc("raw 0x80 and 0x9f", "\x80\x9f", "\\x80\\x9f");
	esc("backslash doubled", "C:\\dir", "C:\\\\dir");
	esc("line separator and bidi override", "a\xe2\x80\xa8" "b\xe2\x80\xae" "c",
	    "a\\u2028b\\u202ec");
	esc("NULL", NULL, "");
	esc("empty", "", "");
}

static void test_bad_utf8(void)
{
	esc("truncated 2-byte", "a\xc3", "a\\xc3");
	esc("truncated 3-byte", "\xe6\x97", "\\xe6\\x97");
	esc("truncated 4-byte then text", "\xf0\x9f\x98z", "\\xf0\\x9f\\x98z");
	esc("lone continuation", "\xbf", "\\xbf");
	esc("overlong slash (C0 AF)", "\xc0\xaf", "\\xc0\\xaf");
	esc("overlong NUL (C0 80)", "\xc0\x80", "\\xc0\\x80");
	esc("overlong 3-byte (E0 80 AF)", "\xe0\x80\xaf", "\\xe0\\x80\\xaf");
	esc("overlong 4-byte (F0 80 80 AF)", "\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf");
	esc("surrogate D800 in UTF-8", "\xed\xa0\x80", "\\xed\\xa0\\x80");
	esc("surrogate DFFF in UTF-8", "\xed\xbf\xbf", "\\xed\\xbf\\xbf");
	esc("past U+10FFFF (F4 90)", "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
	esc("F5 lead", "\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80");
	esc("FF byte", "\xff", "\\xff");
	esc("Latin-1 name", "caf\xe9", "caf\\xe9");
}

static void test_valid_text(void)
{
	esc("é", "caf\xc3\xa9", "caf\xc3\xa9");
	esc("日本", "\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac");
	esc("emoji (4 bytes)", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");
	esc("U+00A0 (first after C1)", "\xc2\xa0", "\xc2\xa0");
	esc("U+D7FF and U+E000 (around surrogates)", "\xed\x9f\xbf\xee\x80\x80",
	    "\xed\x9f\xbf\xee\x80\x80");
	esc("U+10FFFF", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");
	ok(utf8_valid("caf\xc3\xa9 \xe6\x97\xa5"), "utf8_valid: é and 日");
	ok(!utf8_valid("caf\xe9"), "utf8_valid: Latin-1 is not");
	ok(!utf8_valid("\xed\xa0\x80"), "utf8_valid: a surrogate is not");
	ok(!utf8_valid("\xc3"), "utf8_valid: a cut sequence is not");
}

static void test_quote_and_line(void)
{
	struct strbuf sb = STRBUF_INIT;

	is_str(ovl_quote("it's\x1b[1m"), "'it\\'s\\x1b[1m'", "quote: quote and ESC escaped");
	is_str(ovl_quote(NULL), "''", "quote: NULL is ''");
	ovl_escape_add(&sb, "C:\\x \x1b[2J \xc2\x9b \x9b \xe6\x97\xa5\n", OVL_ESC_LINE);
	is_str(sb_str(&sb), "C:\\x \\x1b[2J \\u009b \\x9b \xe6\x97\xa5\\n",
	       "line: controls escaped, backslashes kept");
	sb_free(&sb);
	ovl_escape_add(&sb, ovl_quote("a\\b\x1b"), OVL_ESC_LINE);
	is_str(sb_str(&sb), "'a\\\\b\\x1b'", "line: a quoted name passes unchanged");
	sb_free(&sb);
}

/* The whole of FILE, read back from its start. */
static char *slurp(FILE *f)
{
	static char buf[4096];
	size_t n;

	fflush(f);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	return buf;
}

/* ovl_error() and ovl_note() on text a caller did not quote (as qemu-img's
 * own words are passed): escaped on the way out. */
static void test_reports(void)
{
	FILE *err = tmpfile(), *out = tmpfile();
	int saved_err = dup(STDERR_FILENO), saved_out = dup(STDOUT_FILENO);

	fflush(stdout);
	dup2(fileno(err), STDERR_FILENO);
	dup2(fileno(out), STDOUT_FILENO);
	ovl_set_progname("ovl-test");
	ovl_error("vm\x1b.ovl", "cannot commit: %s", "Could not open '\x1b]0;pwned\a': \x9b" "2J");
	ovl_note("note %s", "\xc2\x9b" "31m\ttab");
	fflush(stdout);
	dup2(saved_err, STDERR_FILENO);
	dup2(saved_out, STDOUT_FILENO);
	close(saved_err);
	close(saved_out);
	is_str(slurp(err), "ovl-test: 'vm\\x1b.ovl': cannot commit: Could not open "
	       "'\\x1b]0;pwned\\x07': \\x9b2J\n", "ovl_error: subject and message escaped");
	is_str(slurp(out), "note \\u009b31m\\ttab\n", "ovl_note: message escaped");
	fclose(err);
	fclose(out);
}

int main(void)
{
	test_controls();
	test_bad_utf8();
	test_valid_text();
	test_quote_and_line();
	test_reports();
	return done_testing();
}
