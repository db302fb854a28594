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
};

/* applied: in the base's past (seq <= head); undone: after head, can be
 * redone; abandoned: undone, then superseded by a new commit. */
const char *commit_state(const struct store *s, const struct commit_row *r);

/* Every finished commit, oldest first. */
int log_list(struct store *s, struct commit_row **rows, size_t *n);
/* One commit; a missing one is reported ("no commit N"). */
int log_get(struct store *s, int64_t seq, struct commit_row *row);

void commit_row_clear(struct commit_row *r);
void commit_rows_free(struct commit_row *rows, size_t n);

#endif
