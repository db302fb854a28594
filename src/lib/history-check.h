/*
 * Checking what history.db says before anything acts on it.
 *
 * The database is data, not instructions: a damaged or tampered row must
 * never steer a write.  Each kind of value read back has one checker
 * here (the extent map's own is extents_validate() in extents.h, the
 * plan's plan_validate() in plan.h); every path that reads the value
 * calls it, and `ovl-history verify` runs them all to report each
 * problem.  File names stored in the database are checked by the store
 * (store.h), not here.
 *
 * What a checker finds goes to a sink: the tools stop at the first
 * problem ("damaged history, nothing written"); verify lists them all.
 */
#ifndef OVL_HISTORY_CHECK_H
#define OVL_HISTORY_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "extents.h"
#include "journal.h"
#include "log.h"
#include "store.h"

struct damage {
	/* One problem: SEQ the commit it is about (0: none in particular),
	 * WHY what is wrong, lowercase, no final period. */
	void (*found)(struct damage *d, int64_t seq, const char *why);
	void *arg;
	size_t count;
};

/* A sink that reports the first problem as an error naming S's database
 * ("commit 3: extent map out of order: damaged history, nothing written")
 * and only counts the rest. */
void damage_fail_init(struct damage *d, struct store *s);

/* The numbers of meta that every reader relies on. */
struct history_meta {
	int64_t head;
	int64_t oldest;
	uint64_t pristine_size;
};

/*
 * Read head, oldest and pristine_size from meta: each a plain decimal
 * integer >= 0 (a missing pristine_size is 0: no commit yet), and
 * oldest <= head.  Problems go to D; the exit code says whether any.
 */
int history_meta_read(struct store *s, struct history_meta *m, struct damage *d);

/* One commit row's values on their own against meta M (what
 * history_rows_check does for each row); the number of problems. */
size_t commit_row_check(const struct history_meta *m, const struct commit_row *r,
			struct damage *d);

/*
 * What a new commit builds on, checked cheaply (no commit rows read):
 * meta as history_meta_read, and head a kept state -- a commit abandons
 * every commit after head, so a head that names nothing must not steer
 * one.  Problems go to a damage_fail_init sink; an exit code.
 */
int history_head_validate(struct store *s);

/*
 * The commit rows (finished ones, as log_list returns them, ascending)
 * against meta M: numbers that are numbers, sequence numbers strictly
 * ascending and after oldest, state flags 0 or 1, sizes that fit an
 * int64 with base size before <= after and data size <= after; each kept
 * commit starts from the size of the state before it (the pristine
 * copy's for the first); head is oldest or a kept commit.  Pure.
 * Returns the number of problems sent to D.
 */
size_t history_rows_check(const struct history_meta *m, const struct commit_row *rows,
			  size_t n, struct damage *d);

/* history_meta_read, then history_rows_check; an exit code. */
int history_rows_validate(struct store *s, const struct commit_row *rows, size_t n,
			  struct damage *d);

/*
 * The extent map of commit row R as stored: COUNT (the count column)
 * extents in a blob of LEN bytes that unpacked to V[0..N) (V NULL: the
 * blob is not a whole number of records).  The map must be valid inside
 * the commit's size after (extents_validate) and its lengths add up to
 * the commit's data size.  Pure; the number of problems sent to D.
 */
size_t commit_map_check(const struct commit_row *r, int64_t count, size_t len,
			const struct extent *v, size_t n, struct damage *d);

/* commit_map_check on commit R's map as stored (a commit with data and
 * no map is damage too); an exit code. */
int commit_map_validate(struct store *s, const struct commit_row *r, struct damage *d);

/*
 * A journal row, before recovery acts on it: an operation and step this
 * ovl writes, naming what that operation can name (a commit: the newest
 * row, still pending; an undo: a kept state, from the head the store
 * records, by a known method; a prune: a kept state between oldest and
 * head).  An exit code; problems go to D.
 */
int journal_entry_validate(struct store *s, const struct journal_entry *e, struct damage *d);

#endif
