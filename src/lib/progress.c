#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "progress.h"
#include "report.h"

/* Redraw at most every 0.5 %: a terminal needs no more, and a slow one
 * (a serial console) must not slow the work down. */
#define PROGRESS_STEP 50
/* The units of a work measured only by fractions: fine enough for any. */
#define PROGRESS_UNITS (1u << 20)

static void draw(struct progress *p, int hundredths)
{
	printf("    (%d.%02d/100%%)\r", hundredths / 100, hundredths % 100);
	fflush(stdout);
	p->shown = hundredths;
}

/* Draw the current state if it moved far enough since the last drawing. */
static void update(struct progress *p)
{
	int h = (int)((double)p->done * 10000.0 / (double)p->total + 0.5);

	if (h > 10000)
		h = 10000;
	if (p->on && h >= p->shown + PROGRESS_STEP && h < 10000)
		draw(p, h);
}

void progress_start(struct progress *p, bool wanted, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->on = wanted && !ovl_is_quiet() && isatty(STDOUT_FILENO);
	p->total = total ? total : PROGRESS_UNITS;
	p->span_len = p->total;
	p->shown = -1;
	if (p->on)
		draw(p, 0);
}

/* Move to DONE units, never back and never past the end. */
static void move_to(struct progress *p, uint64_t done)
{
	if (done > p->total)
		done = p->total;
	if (done > p->done)
		p->done = done;
	update(p);
}

void progress_advance(struct progress *p, uint64_t bytes)
{
	move_to(p, p->done + bytes);
}

void progress_span(struct progress *p, uint64_t len)
{
	p->span_start = p->done;
	p->span_len = len;
}

void progress_set_fraction(struct progress *p, double fraction)
{
	if (!(fraction >= 0.0))	/* NaN too */
		fraction = 0.0;
	if (fraction > 1.0)
		fraction = 1.0;
	move_to(p, p->span_start + (uint64_t)(fraction * (double)p->span_len + 0.5));
}

/* One "(NN.NN/100%)" token (without its parentheses' tail) read. */
static void feed_token(struct progress *p, const char *tok, size_t len)
{
	char num[32];
	char *end;
	double pct;

	if (len == 0 || len >= sizeof(num))
		return;
	memcpy(num, tok, len);
	num[len] = '\0';
	pct = strtod(num, &end);
	if (end != num && *end == '\0')
		progress_set_fraction(p, pct / 100.0);
}

/* qemu-img writes "    (12.34/100%)\r"; a chunk may end inside one, so
 * the unfinished rest waits in p->tail for the next chunk. */
void progress_feed_qemu(struct progress *p, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (c == '(') {
			p->tail_len = 0;
			p->tail[p->tail_len++] = c;
		} else if (p->tail_len && c == ')') {
			const char *slash = memchr(p->tail, '/', p->tail_len);
			if (slash)
				feed_token(p, p->tail + 1, (size_t)(slash - p->tail - 1));
			p->tail_len = 0;
		} else if (p->tail_len && p->tail_len < sizeof(p->tail)) {
			p->tail[p->tail_len++] = c;
		} else {
			p->tail_len = 0;	/* not a token: forget it */
		}
	}
}

uint64_t progress_file_bytes(const char *path)
{
	struct stat st;

	return path && stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

void progress_finish(struct progress *p, bool done)
{
	if (!p->on)
		return;
	if (done)
		draw(p, 10000);
	putchar('\n');
	fflush(stdout);
	p->on = false;
}
