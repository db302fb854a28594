/*
 * Tests of the pure checks of history-check.h: the commit rows against
 * meta (numbers, order, states, sizes along the line of kept commits,
 * head) and a commit's stored extent map against its row.  A sound
 * history passes with nothing found; each kind of damage is found, for
 * the commit it is in, with a message saying what is wrong.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history-check.h"
#include "tap.h"

#define M (UINT64_C(1) << 20)

/* A sink that keeps the first problem. */
struct seen {
	struct damage d;
	int64_t seq;
	char why[256];
};

static void keep_first(struct damage *d, int64_t seq, const char *why)
{
	struct seen *s = d->arg;

	if (d->count++ == 0) {
		s->seq = seq;
		snprintf(s->why, sizeof(s->why), "%s", why);
	}
}

static void seen_init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	s->d = (struct damage){ keep_first, s, 0 };
}

/* A sound history: pristine 16M; 1 grows to 32M; 2 is abandoned; 3 was
 * made on 1; 4 on 3; head 3 (4 undone). */
static struct history_meta meta;
static struct commit_row rows[4];

static void sound_history(void)
{
	meta = (struct history_meta){ 3, 0, 16 * M };
	memset(rows, 0, sizeof(rows));
	rows[0] = (struct commit_row){ .seq = 1, .size = 2 * M, .size_before = 16 * M,
				       .size_after = 32 * M };
	rows[1] = (struct commit_row){ .seq = 2, .size = M, .size_before = 32 * M,
				       .size_after = 48 * M, .abandoned = true };
	rows[2] = (struct commit_row){ .seq = 3, .size = M, .size_before = 32 * M,
				       .size_after = 32 * M };
	rows[3] = (struct commit_row){ .seq = 4, .size = 4 * M, .size_before = 32 * M,
				       .size_after = 32 * M };
}

/* history_rows_check of the rows as they are now: nothing found when WANT
 * is NULL, else a problem of commit SEQ whose message holds WANT. */
static void expect_rows(const char *what, int64_t seq, const char *want)
{
	struct seen s;

	seen_init(&s);
	history_rows_check(&meta, rows, 4, &s.d);
	if (!want) {
		if (!ok(s.d.count == 0, "%s", what))
			diag("found: commit %lld: %s", (long long)s.seq, s.why);
		return;
	}
	if (!ok(s.d.count > 0 && s.seq == seq && strstr(s.why, want), "%s", what))
		diag("found %zu, first: commit %lld: %s", s.d.count, (long long)s.seq, s.why);
}

static void test_rows(void)
{
	sound_history();
	expect_rows("a sound history passes", 0, NULL);
	meta.head = 4;
	expect_rows("head on the newest commit passes", 0, NULL);
	meta.head = 0;
	expect_rows("head on the pristine state passes", 0, NULL);

	sound_history();
	rows[2].seq = 1;
	expect_rows("sequence numbers out of order", 1, "out of order");
	sound_history();
	rows[2].size_after = 8 * M;
	expect_rows("a base size after below the size before", 3, "below the size before");
	sound_history();
	rows[0].size = 64 * M;
	expect_rows("a data size larger than the image", 1, "larger than the image");
	sound_history();
	rows[2].size_before = 48 * M;
	rows[2].size_after = 48 * M;
	expect_rows("a kept commit not made on the state before it", 3, "not the size of state 1");
	sound_history();
	meta.pristine_size = 8 * M;
	expect_rows("the first commit not made on the pristine copy", 1, "not the size of state 0");
	sound_history();
	meta.head = 2;
	expect_rows("head on an abandoned commit", 0, "head state 2 is not a kept state");
	sound_history();
	meta.head = 9;
	expect_rows("head past the newest commit", 0, "head state 9 is not a kept state");
	sound_history();
	meta.oldest = 1;
	meta.pristine_size = 32 * M;
	expect_rows("a commit at the oldest state, which prune removes", 1, "oldest state 1");
	sound_history();
	rows[3].damage = "a size is not a number of bytes";
	expect_rows("a row whose numbers are not numbers", 4, "not a number of bytes");
}

static void test_one_row(void)
{
	struct commit_row r = { .seq = 5, .size = M, .size_before = 16 * M, .size_after = 16 * M };
	struct history_meta m = { 5, 2, 16 * M };
	struct seen s;

	seen_init(&s);
	ok(commit_row_check(&m, &r, &s.d) == 0, "a sound row on its own passes");
	r.size_before = 17 * M;
	ok(commit_row_check(&m, &r, &s.d) == 1 && s.seq == 5, "a shrinking commit is found");
}

/* commit_map_check of V[0..N) against row R, COUNT as stored. */
static void expect_map(const char *what, const struct commit_row *r, int64_t count,
		       const struct extent *v, size_t n, const char *want)
{
	struct seen s;

	seen_init(&s);
	commit_map_check(r, count, n * EXTENT_RECORD + (v ? 0 : 3), v, n, &s.d);
	if (!want) {
		if (!ok(s.d.count == 0, "%s", what))
			diag("found: %s", s.why);
		return;
	}
	if (!ok(s.d.count > 0 && s.seq == r->seq && strstr(s.why, want), "%s", what))
		diag("found %zu: %s", s.d.count, s.why);
}

static void test_maps(void)
{
	static const struct extent good[] = { { 0, M, false, 0 }, { 4 * M, M, true, -1 } };
	static const struct extent unsorted[] = { { 4 * M, M, false, 0 }, { 0, M, true, -1 } };
	static const struct extent past[] = { { 0, M, false, 0 }, { 16 * M, M, true, -1 } };
	struct commit_row r = { .seq = 7, .size = 2 * M, .size_before = 16 * M,
				.size_after = 16 * M };

	expect_map("a sound map passes", &r, 2, good, 2, NULL);
	expect_map("a map out of order, named with its extent", &r, 2, unsorted, 2,
		   "extent map out of order (extent 2 of 2)");
	expect_map("a map past the commit's size", &r, 2, past, 2, "past the image's end");
	expect_map("a truncated blob", &r, 2, NULL, 0, "truncated");
	expect_map("a count that does not match the blob", &r, 3, good, 2,
		   "holds 2 extents, but says 3");
	r.size = 3 * M;
	expect_map("a map that does not add up to the data size", &r, 2, good, 2,
		   "covers 2097152 bytes, but the data size is 3145728");
}

int main(void)
{
	test_rows();
	test_one_row();
	test_maps();
	return done_testing();
}
