/* ovl-history's subcommands, each on an open store. */
#ifndef OVL_HIST_H
#define OVL_HIST_H

#include <stdbool.h>
#include <stdint.h>
#include "cli.h"
#include "journal.h"
#include "retention.h"
#include "store.h"

int hist_list(struct store *s, enum output_format out);
int hist_show(struct store *s, int64_t seq, enum output_format out);
/* Tag commit SEQ (a tag on another commit is refused, nothing changed). */
int hist_tag(struct store *s, int64_t seq, const char *name, bool dry_run);

/* Check the store; every problem reported; exit 1 when there is one. */
int hist_verify(struct store *s, enum output_format out, bool progress);

/*
 * Fold the oldest commits the policy does not keep into the pristine copy
 * (which then holds the state of the newest one folded) and delete their
 * archives; delete abandoned commits.  Only a run of the oldest commits
 * can be folded, and never past head.
 */
int hist_prune(struct store *s, const struct retention_policy *keep, bool dry_run,
	       enum output_format out, bool progress);

/* The journal's roll forward of an interrupted prune. */
int prune_recover(struct store *s, const struct journal_entry *e);

/* Files commit SEQ added, removed or changed in the guest's filesystems. */
int hist_diff(struct store *s, int64_t seq, enum output_format out);

#endif
