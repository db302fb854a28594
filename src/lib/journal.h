/*
 * The store's journal: operations under way.
 *
 * An operation writes its row before its first step and moves it to each
 * later step before starting that step, each in its own durable
 * transaction.  After a crash the row says how far it got, and the
 * operation's own recovery finishes or rolls back from there.
 */
#ifndef OVL_JOURNAL_H
#define OVL_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>
#include "store.h"

struct journal_entry {
	int64_t id;
	char *op;      /* "commit", "undo", "prune" */
	int64_t seq;
	char *step;
	char *args;    /* JSON */
};

/* Within the caller's transaction: add a row, its id into *id. */
int journal_add(struct store *s, const char *op, int64_t seq, const char *step,
		const char *args, int64_t *id);
/*
 * For crash tests: when OVL_TEST_CRASH is "OP:STEP", die by SIGKILL here.
 * Called right after STEP of OP is durable in the journal, before the
 * step's work starts (like qemu's blkdebug, it reaches points that killing
 * from outside cannot hit reliably).
 */
void journal_crash_point(const char *op, const char *step);

/* In a transaction of its own: record that STEP starts now. */
int journal_step(struct store *s, int64_t id, const char *step);
/* Within the caller's transaction: the operation is over. */
int journal_remove(struct store *s, int64_t id);

/* The oldest unfinished operation; *found false when there is none. */
int journal_oldest(struct store *s, struct journal_entry *e, bool *found);
void journal_entry_free(struct journal_entry *e);
/* FN on every unfinished operation, oldest first (for verify); an exit
 * code. */
int journal_each(struct store *s, void (*fn)(struct store *, const struct journal_entry *, void *),
		 void *arg);

/* No unfinished operation (an unreadable journal counts as work). */
bool journal_is_empty(struct store *s);

#endif
