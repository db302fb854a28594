/*
 * The store-side steps of a commit with history, shared by ovl-commit and
 * by the recovery of a commit that a crash interrupted.
 *
 * Steps, each recorded in the journal before it starts:
 *   archive  the overlay is hard-linked (or copied) into the store;
 *            the base is untouched, so a crash here rolls back
 *   commit   the archive is committed into the base with qemu-img, its
 *            backing named explicitly; from here on a crash rolls forward
 *            (committing the same archive again converges)
 *   renew    the base holds the data: the overlay is replaced by an empty
 *            one, then the commit is logged as done in one transaction
 */
#ifndef OVL_HISTORY_H
#define OVL_HISTORY_H

#include <stdbool.h>
#include <stdint.h>
#include "extents.h"
#include "image.h"
#include "journal.h"
#include "store.h"

struct pending_commit {
	int64_t seq;
	int64_t journal_id;
	char *archive;        /* absolute path of the archive file */
	uint64_t size;        /* bytes of data in the overlay */
	uint64_t size_before; /* base virtual size before */
	uint64_t size_after;
	/* Called by history_commit_archive() once the base's locks are
	 * probed, as qemu-img commit starts: work that does not depend on
	 * the commit (ovl-commit makes the replacement overlay) overlaps it.
	 * The caller joins that work after history_commit_archive returns. */
	void (*beside_commit)(void *arg);
	void *beside_arg;
};

/* Log a new pending commit and its journal row at step "archive". */
int history_begin(struct store *s, const char *message, const char *tag,
		  uint64_t size, uint64_t base_size, struct pending_commit *pc);

/*
 * Put the overlay TOP (as chain_open read and judged it) into the store.
 * The store keeps the overlay's own inode (a hard link) only when nobody
 * else can change it: owned by the running user, not writable by group or
 * others, no other link.  Otherwise (or across filesystems) its data is
 * copied into a new file of the store's own, 0600, and that copy is
 * judged (qcow2, no external data file, not encrypted, TOP's virtual
 * size, qemu-img check) before it is named: only the copy is used after.
 * An overlay that is no longer the inode judged is refused.
 */
int history_archive(struct store *s, const struct image *top, struct pending_commit *pc);

/* Undo history_begin/history_archive: nothing reached the base. */
int history_rollback(struct store *s, struct pending_commit *pc);

/* The "commit" step: commit the archive into the base, sync it, record
 * the archive's digest and move the journal to "renew". */
int history_commit_archive(struct store *s, struct pending_commit *pc,
			   uint64_t overlay_size, bool progress);

/* The end: extents logged, commit done, head moved, undone commits
 * abandoned, journal row gone; one transaction. */
int history_finish(struct store *s, struct pending_commit *pc, const struct extents *ex);

/* Rebuild pc from a journal row (recovery). */
int history_load_pending(struct store *s, const struct journal_entry *e,
			 struct pending_commit *pc);

void pending_commit_free(struct pending_commit *pc);

/* The --image-opts that open qcow2 TOP with BASE (format FMT) as its
 * backing, whatever TOP's header says.  Malloc'ed. */
char *image_opts_over(const char *top, const char *base, const char *fmt);

#endif
