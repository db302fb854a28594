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

#endif
