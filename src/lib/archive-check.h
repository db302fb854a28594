/*
 * The store's own image files, judged before their data is used.
 *
 * An archived overlay or the pristine copy is read back like an operand
 * before its data rebuilds a base (replay, the extents copy, prune's fold,
 * diff, the recovery of a commit): qemu-img info in its recorded format
 * (never probed), no external data file, not encrypted, not marked
 * corrupt, the virtual size the log expects, qemu-img check clean; and its
 * digest is the one logged when it entered the store.  Every refusal is
 * exit 1 with one message form naming the file:
 *   ovl-undo: '/x/base.img.history/commits/00000003.qcow2': archive does
 *   not match its logged digest: refused
 * Nothing is written by these checks.
 */
#ifndef OVL_ARCHIVE_CHECK_H
#define OVL_ARCHIVE_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include "image.h"
#include "store.h"

/*
 * Archive of commit SEQ: judged, and its digest matched against the log.
 * A pending commit whose digest is not logged yet (recovery of a commit
 * interrupted before its "commit" step ended) is judged only.
 */
int store_archive_check(struct store *s, int64_t seq);

/*
 * The same for an archive whose bytes are read at its logged offsets and
 * never opened by qemu (the extents undo): once its digest matches, it is
 * the file judged when it entered the store, and its header is judged
 * in-process (qcow2, no external data file, not encrypted, not marked
 * corrupt, the logged size) instead of by two qemu-img runs, which made a
 * 1-step undo several times slower.
 */
int store_archive_check_raw(struct store *s, int64_t seq);

/* How much of the pristine copy's log still holds. */
enum pristine_check {
	PRISTINE_DIGEST,    /* judged, its logged size, its logged digest */
	PRISTINE_JUDGE,     /* judged, its logged size; no digest (the extents
			     * undo reads a few ranges of it, and its digest
			     * costs a read of the whole base image) */
	PRISTINE_MID_FOLD,  /* judged, at least its logged size: a fold that a
			     * crash interrupted has written part of it, and
			     * its digest is logged once the fold ends */
};

/* The pristine copy judged in the base's format (no backing file) and,
 * as HOW says, its size and digest matched against the log. */
int store_pristine_check(struct store *s, enum pristine_check how);

/*
 * Judge the qcow2 file PATH as an archive made from an overlay of
 * EXPECTED_SIZE bytes (0: any size), without a digest: used on a copy
 * just made, before it is committed.  WHAT names the file in messages
 * ("archive").
 */
int store_image_judge(const char *path, const char *format, uint64_t expected_size,
		      const char *what);

#endif
