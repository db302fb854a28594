/*
 * From a path the user gave (an overlay or a base) to its history store,
 * opened with the locks every store-changing tool takes, in one order:
 * the overlay's directory first, then the store.
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

struct located {
	struct store s;
	int dir_lock;        /* flock on the overlay's directory, or -1 */
};

/*
 * Open the store of PATH for changing it: lock the overlay's directory,
 * open and lock the store, check PATH belongs to it, and run recovery
 * (unless dry_run, which opens read-only and changes nothing).
 */
int store_open_for(const char *path, const char *store_opt, bool dry_run,
		   struct located *loc);

/*
 * Open the store of PATH for reading only.  When its journal holds
 * unfinished work, that work is finished first (as store_open_for).
 */
int store_open_to_read(const char *path, const char *store_opt, struct located *loc);

void located_close(struct located *loc);

#endif
