/*
 * Tests of progress.c that need no terminal: how qemu-img's "-p" output,
 * fed in chunks cut anywhere, moves the bar's parts, and that the bar
 * never goes back nor past its end.  (The drawing on a terminal is
 * tested by tests/bats/progress.bats under a pseudo-terminal.)
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "tap.h"

static void feed(struct progress *p, const char *s)
{
	progress_feed_qemu(p, s, strlen(s));
}

int main(void)
{
	struct progress p;

	/* stdout is no terminal here: nothing drawn, the counting still done. */
	progress_start(&p, true, 10000);
	is_int(p.on, isatty(STDOUT_FILENO), "drawing only when stdout is a terminal");
	feed(&p, "    (0.00/100%)\r    (12.");
	is_int((long long)p.done, 0, "a token cut in two is not read yet");
	feed(&p, "34/100%)\r");
	is_int((long long)p.done, 1234, "... and read whole with the next chunk");
	feed(&p, "    (5.00/100%)\r");
	is_int((long long)p.done, 1234, "a smaller percentage does not move it back");
	feed(&p, "junk (abc/100%) (/100%) 12.5/100%)\r");
	is_int((long long)p.done, 1234, "malformed tokens are ignored");

	/* Two qemu-img runs as two parts of one bar. */
	progress_start(&p, true, 1000);
	progress_advance(&p, 200);
	progress_span(&p, 400);
	feed(&p, "    (50.00/100%)\r");
	is_int((long long)p.done, 400, "half of the 400-unit part after 200");
	progress_set_fraction(&p, 1.0);
	progress_span(&p, 400);
	feed(&p, "    (0.00/100%)\r");
	is_int((long long)p.done, 600, "the next run's 0%% is where the last ended");
	feed(&p, "    (100.00/100%)\r\n");
	is_int((long long)p.done, 1000, "its 100%% is the end");
	progress_advance(&p, 5000);
	is_int((long long)p.done, 1000, "never past the end");
	progress_finish(&p, true);

	progress_start(&p, true, 0);
	feed(&p, "(25.00/100%)");
	ok(p.done * 4 == p.total, "a work of fractions only: 25%% is a quarter");
	progress_set_fraction(&p, -1.0);
	ok(p.done * 4 == p.total, "a negative fraction changes nothing");
	is_int((long long)progress_file_bytes("/nonexistent/x"), 0, "a missing file is 0 bytes");
	return done_testing();
}
