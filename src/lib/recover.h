/* Finishing or rolling back what a crashed ovl run left in a store. */
#ifndef OVL_RECOVER_H
#define OVL_RECOVER_H

#include <stdbool.h>
#include "store.h"

/*
 * Run every unfinished operation in the journal to its end (or roll it
 * back where nothing irreversible happened yet), and remove temporary
 * files in the store.  Every ovl tool calls this right after opening a
 * store for writing.  *did_work says whether anything was found.
 */
int store_recover(struct store *s, bool *did_work);

/* Remove temporary files of ours in the store and beside its base and
 * overlay (a crash can leave one even where no journal row was needed,
 * as during the pristine copy).  Cheap: directory reads. */
int store_remove_temps(struct store *s);

/*
 * For tools that do not otherwise use a store (ovl-renew): if BASE (as in
 * a judged chain) has a store (STORE_OPT, else BASE.history), open it and
 * run its recovery.  No store is no work.  Returns an exit code.
 */
int recover_store_of_base(const char *base_path, const char *store_opt, bool *did_work);

#endif
