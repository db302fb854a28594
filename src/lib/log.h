/* Reading the commit log for ovl-history. */
#ifndef OVL_LOG_H
#define OVL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "store.h"

struct commit_row {
	int64_t seq;
	int64_t time_us;
	char *message;        /* NULL: none */
	char *tag;            /* NULL: none */
	uint64_t size;
	char *file;           /* archive, relative to the store */
	char *digest;
	uint64_t size_before, size_after;
	bool abandoned;
	int64_t n_extents;    /* log_get only */
	/* Set when a column holds what ovl never writes there (a size that
	 * is not a non-negative integer, a state flag other than 0 or 1):
	 * the numbers above are then meaningless.  See history-check.h. */
	const char *damage;
};

/* applied: in the base's past (seq <= head); undone: after head, can be
 * redone; abandoned: undone, then superseded by a new commit. */
const char *commit_state(const struct store *s, const struct commit_row *r);

/* Every finished commit, oldest first, checked (history_rows_validate):
 * a damaged history is reported as such, and a failure. */
int log_list(struct store *s, struct commit_row **rows, size_t *n);
/* The same, unchecked, with each row's own damage noted (for verify). */
int log_list_raw(struct store *s, struct commit_row **rows, size_t *n);
/* One commit, its row and extent map checked; a missing one is reported
 * ("no commit N"). */
int log_get(struct store *s, int64_t seq, struct commit_row *row);

void commit_row_clear(struct commit_row *r);
void commit_rows_free(struct commit_row *rows, size_t n);

#endif
