/* Which state an ovl-undo command line names. */
#ifndef OVL_UNDO_TARGET_H
#define OVL_UNDO_TARGET_H

#include "plan.h"
#include "store.h"
#include "undo.h"

/* Resolve the selector to a kept state; a name that names nothing is a
 * failure with a message saying why (pruned, abandoned, unknown...). */
int select_target(struct store *s, const struct lineage *l, const struct undo_opts *o,
		  int64_t *target);

#endif
