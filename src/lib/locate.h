/*
 * From a path the user gave (an overlay or a base) to its history store,
 * opened with the locks every store-changing tool takes, in one order:
 * the overlay file first, then the store.
 */
#ifndef OVL_LOCATE_H
#define OVL_LOCATE_H

#include <stdbool.h>
#include "store.h"

/* The store directory PATH belongs to (malloc'ed), or NULL after a
 * message: BASE.history for a base, its base's for an overlay, or
 * STORE_OPT.  Does not check that a store is there. */
char *store_dir_of(const char *path, const char *store_opt);

/* Is PATH the store's base or its overlay?  (reported when not) */
int store_check_belongs(const struct store *s, const char *path);

/*
 * Open the store of PATH (store_open_op in MODE) for an operation on it:
 * writers and dry runs take the overlay's lock, then the store's; PATH
 * must be the store's base or overlay.  STORE_READ never waits (see
 * store.h).  Returns an exit code; close S with store_close whatever it is.
 */
int store_open_for(const char *path, const char *store_opt, enum store_mode mode,
		   struct store *s);

#endif
