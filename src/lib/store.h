/*
 * A base's history store: a directory (0700) holding history.db, the
 * pristine copy of the base and the archived overlays.
 */
#ifndef OVL_STORE_H
#define OVL_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "db.h"

#define STORE_DB_NAME "history.db"
#define STORE_COMMITS_DIR "commits"

struct store {
	char *dir;           /* absolute */
	struct db db;
	int lock_fd;         /* flock on dir: one ovl process at a time */
	bool writable;

	/* From meta. */
	char *base;          /* absolute, canonical path of the base */
	char *base_format;
	char *overlay;       /* absolute path of the overlay */
	char *pristine;      /* absolute path; NULL until the first commit made it */
	int64_t head;
	int64_t oldest;
};

/* The store directory for BASE: --store/OVL_STORE if given, else
 * BASE.history beside the base.  Malloc'ed. */
char *store_dir_for(const char *option_store, const char *base_path);

/* Does DIR hold a store (a history.db)? */
bool store_exists(const char *dir);

/*
 * Open the store in DIR: lock it (waiting up to 10 s, then busy), check
 * the database, read meta.  A missing store is a failure with a message
 * "has no history".  Returns an exit code.
 */
int store_open(struct store *s, const char *dir, bool writable);

/* Open read-only without taking the lock: to learn, before locking, which
 * overlay a store belongs to (locks are taken overlay directory first). */
int store_open_unlocked(struct store *s, const char *dir);

/* Create DIR (0700) and an empty history for BASE and OVERLAY, locked.
 * A directory left by a crashed creation is reused if it has no
 * database yet. */
int store_create(struct store *s, const char *dir, const char *base,
		 const char *base_format, const char *overlay);

void store_close(struct store *s);

/* DIR/NAME, malloc'ed. */
char *store_path(const struct store *s, const char *name);
/* The archive file name of commit SEQ, relative to the store. */
char *store_archive_name(int64_t seq);

int store_set_meta(struct store *s, const char *key, const char *value);
int store_set_meta_int(struct store *s, const char *key, int64_t value);
/* Re-read meta into s (after a change). */
int store_load_meta(struct store *s);

/* Microseconds since the epoch, for the log. */
int64_t store_now_us(void);

#endif
