/*
 * Carrying out an undo on the base: the two methods.  Both leave the base
 * holding state TARGET exactly, and both can simply be run again after a
 * crash (the journal's roll forward): copying is idempotent, and replay
 * only swaps its result in at the end.
 */
#ifndef OVL_UNDO_EXEC_H
#define OVL_UNDO_EXEC_H

#include <stdbool.h>
#include "plan.h"
#include "store.h"

/* Copy the plan's pieces into the base (grown or shrunk to the target
 * size), through qemu-nbd; archive data read at the logged offsets. */
int undo_by_extents(struct store *s, const struct plan *p, bool progress);

/* Rebuild state TARGET from the pristine copy by committing the kept
 * archives up to it, then rename the result over the base. */
int undo_by_replay(struct store *s, const struct lineage *l, int64_t target,
		   bool progress);

/* Extents method, before anything is written: the archives the plan reads
 * (and the pristine copy, when it does) are judged and match their logged
 * digests (store_archive_check), are long enough (reported), and their
 * pieces are read ahead.  Archives the plan does not read are not read. */
int undo_prepare_sources(struct store *s, const struct plan *p);

/* Replay: the pristine copy and every archive up to TARGET are judged and
 * match their logged digests (store_archive_check). */
int check_replay_archives(struct store *s, const struct lineage *l, int64_t target);

/* qemu-img resize of the base to SIZE (shrinking allowed). */
int resize_image(const char *path, const char *format, uint64_t size);

#endif
