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
	char *dir;           /* absolute, as the user knows it: for messages */
	/* The store's directory, open (and judged) for the whole run.  Not
	 * close-on-exec: qemu-img children reach the store's files through
	 * root too. */
	int fd;
	char *root;          /* "/proc/self/fd/N", N == fd: every path of the store */
	/* The same directory again, close-on-exec: its flock is the store
	 * lock, so that no child of ours outlives us holding it. */
	int lock_fd;
	struct db db;
	int overlay_lock;    /* flock on the overlay file taken by the opener, or -1 */
	bool writable;
	bool in_progress;    /* STORE_READ: another ovl process holds the store;
				what is read is its last committed state */
	bool recovered;      /* the opener finished a crashed run's work */

	/* From meta. */
	char *base;          /* absolute, canonical path of the base */
	char *base_format;
	char *overlay;       /* absolute path of the overlay */
	char *pristine;      /* store path (under root); NULL until the first commit made it */
	int64_t head;
	int64_t oldest;
};

/* The store directory for BASE: --store/OVL_STORE if given, else
 * BASE.history beside the base.  Malloc'ed. */
char *store_dir_for(const char *option_store, const char *base_path);

/* Does DIR hold a store (a history.db)?  (To choose or refuse only: a
 * store is used only through store_open_op, which judges it.) */
bool store_exists(const char *dir);

/* How an operation uses its store. */
enum store_mode {
	/* list, show, verify, diff: never waits.  While another ovl process
	 * holds the store, s->in_progress is set (and said on stderr) and the
	 * last committed state is read; a crashed run's journal is finished
	 * first, as STORE_WRITE would. */
	STORE_READ,
	/* -n of a tool that changes the store: read-only, locked as
	 * STORE_WRITE, nothing recovered. */
	STORE_DRY_RUN,
	/* commit, undo, prune, tag, recovery: the overlay's lock (if asked),
	 * then the store's, each waiting up to 10 s (then busy, 3); the
	 * journal's unfinished work is run and stray temporary files go. */
	STORE_WRITE,
};

/* What STORE_WRITE puts in a store it creates. */
struct store_new {
	const char *base;         /* absolute, canonical */
	const char *base_format;
	const char *overlay;      /* absolute */
};

struct store_op {
	enum store_mode mode;
	bool optional;            /* no store in DIR: 0, with s->dir NULL */
	const struct store_new *create;  /* STORE_WRITE: make the store if missing */
	bool lock_overlay;        /* take the overlay file's lock (ovl_lock_overlay)
				     before the store's; false when the caller holds it */
	/* After locking, before any recovery: is this the store the
	 * operation expects?  An exit code, reported. */
	int (*check)(const struct store *s, void *arg);
	/* Called when the journal holds work, before it is run. */
	void (*before_recovery)(void *arg);
	void *arg;
};

/*
 * THE way to open a store (every tool and recovery comes here).  DIR is
 * refused (1, saying why) when it or any file of the store (history.db,
 * its -wal/-shm, commits/, the pristine copy) is a symlink, is not owned
 * by the user running ovl, or is writable by group or others; this is
 * judged on the directory's descriptor before the database is opened,
 * and every later access goes through that descriptor (s->root).  A
 * directory made by another user is never adopted, not even to create a
 * store in it.  Names read from history.db must have the store's own
 * forms.  Returns an exit code; s is to be closed with store_close
 * whatever the outcome.
 */
int store_open_op(struct store *s, const char *dir, const struct store_op *op);

/* Is NAME (relative to the store) absent, or a regular file (a directory
 * when is_dir) owned by us and not writable by group or others?  An exit
 * code, reported naming the file as s->dir/NAME. */
int store_check_entry(const struct store *s, const char *name, bool is_dir);

void store_close(struct store *s);

/* The path of NAME (relative to the store) through the store's
 * descriptor, malloc'ed: for opening and for qemu-img; messages show it
 * under s->dir (ovl_path_alias). */
char *store_path(const struct store *s, const char *name);
/* The archive file name of commit SEQ, relative to the store. */
char *store_archive_name(int64_t seq);
/*
 * The store path of commit SEQ's archive, whose name FILE was read from
 * history.db: FILE must be store_archive_name(SEQ) and the file, where
 * present, pass store_check_entry.  NULL after reporting (naming the
 * store) otherwise.
 */
char *store_archive_path(const struct store *s, int64_t seq, const char *file);

int store_set_meta(struct store *s, const char *key, const char *value);
int store_set_meta_int(struct store *s, const char *key, int64_t value);
/* Re-read meta into s (after a change). */
int store_load_meta(struct store *s);

/* Microseconds since the epoch, for the log. */
int64_t store_now_us(void);

#endif
