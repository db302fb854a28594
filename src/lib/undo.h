/*
 * ovl-undo's job: bring a base to an earlier (or, after an undo, a later)
 * state of its history, and renew its overlay.
 */
#ifndef OVL_UNDO_H
#define OVL_UNDO_H

#include <stdbool.h>
#include <stdint.h>
#include "journal.h"
#include "store.h"

enum undo_selector { SELECT_STEPS, SELECT_TO, SELECT_TAG, SELECT_TIME };
enum undo_method { METHOD_EXTENTS, METHOD_REPLAY };

struct undo_opts {
	enum undo_selector select;
	int64_t to;            /* SELECT_TO */
	const char *tag;       /* SELECT_TAG */
	int64_t time_us;       /* SELECT_TIME */
	int64_t steps;         /* SELECT_STEPS (default 1) */
	enum undo_method method;
	bool discard_overlay;
	bool dry_run;
	bool progress;
	const char *store_dir;
};

struct undo_result {
	int64_t from, to;
	const char *method;    /* "extents" or "replay" */
	double seconds;
	uint64_t bytes;        /* bytes the plan writes (extents) */
	bool nothing_to_do;
	char *base;            /* malloc'ed */
};

int undo_image(const char *path, const struct undo_opts *opts, struct undo_result *res);
void undo_result_free(struct undo_result *res);

/* The journal's roll forward of an interrupted undo. */
int undo_recover(struct store *s, const struct journal_entry *e);

const char *undo_method_name(enum undo_method m);

#endif
