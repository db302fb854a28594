/* Reading the history's kept states from the store. */
#ifndef OVL_LINEAGE_H
#define OVL_LINEAGE_H

#include "plan.h"
#include "store.h"

/* Every kept (not abandoned, not pending) commit with its extents, each
 * value checked first (history-check.h): a damaged history is reported
 * naming the database and is a failure. */
int lineage_load(struct store *s, struct lineage *l);

/* The archive file of commit SEQ (absolute, malloc'ed), or NULL. */
char *lineage_archive(struct store *s, int64_t seq);

#endif
