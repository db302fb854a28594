/*
 * Progress on the terminal, drawn as qemu-img -p draws it:
 * "    (12.34/100%)\r" updates and a final newline.
 *
 * Drawn only when -p was given, -q was not, and stdout is a terminal;
 * otherwise every call is a no-op, so callers need no tests of their own.
 * The work is TOTAL units (bytes, mostly); a part of it done by qemu-img
 * is declared with progress_span() and its "(NN.NN/100%)" output fed to
 * progress_feed_qemu(), so several runs make one bar that never goes back.
 */
#ifndef OVL_PROGRESS_H
#define OVL_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct progress {
	bool on;             /* drawing at all */
	uint64_t total;      /* units of the whole work, >= 1 */
	uint64_t done;       /* units done, never decreasing, <= total */
	uint64_t span_start; /* the current part: [span_start, +span_len) */
	uint64_t span_len;
	int shown;           /* last drawn, in hundredths of a percent; -1: none */
	char tail[32];       /* an unfinished "(NN.NN/100%)" from qemu-img */
	size_t tail_len;
};

/* Begin work of TOTAL units (0: work measured only by fractions, as one
 * qemu-img run); draws "(0.00/100%)" when
 * WANTED (-p given) and not quiet and stdout is a terminal. */
void progress_start(struct progress *p, bool wanted, uint64_t total);
/* BYTES more units are done. */
void progress_advance(struct progress *p, uint64_t bytes);
/* The next LEN units are one part (a qemu-img run): progress_set_fraction
 * and progress_feed_qemu then move inside it. */
void progress_span(struct progress *p, uint64_t len);
/* FRACTION (0..1) of the current part is done (the whole work if no part
 * was declared). */
void progress_set_fraction(struct progress *p, double fraction);
/* Output of "qemu-img -p" (any chunk of it): its percentages move the
 * current part. */
void progress_feed_qemu(struct progress *p, const char *buf, size_t len);
/* The bytes PATH holds on disk, the measure of the work of reading or
 * committing it; 0 if it cannot be stat'ed (the work then says why). */
uint64_t progress_file_bytes(const char *path);

/* The end: "(100.00/100%)" when DONE (the work succeeded), and the newline
 * that ends the bar whenever one was drawn. */
void progress_finish(struct progress *p, bool done);

#endif
