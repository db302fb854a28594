/*
 * ovl-commit's job for one overlay: commit it into its base, keep it in the
 * base's history store (unless no_history), and renew it.
 */
#ifndef OVL_COMMIT_H
#define OVL_COMMIT_H

#include <stdbool.h>
#include <stdint.h>

struct commit_opts {
	const char *message;
	const char *tag;
	const char *store_dir;  /* --store / OVL_STORE, or NULL */
	uint64_t min_size;      /* skip below this many bytes of data */
	bool no_history;
	bool dry_run;
	bool progress;
};

struct commit_result {
	int64_t seq;            /* 0 without history or when skipped */
	int64_t time_us;
	uint64_t size;          /* bytes of data the overlay held */
	bool skipped;
	const char *skip_reason;
	uint64_t size_before;   /* base virtual size */
	uint64_t size_after;
	char *base;             /* malloc'ed; NULL if it never got that far */
	char *store;            /* malloc'ed, history only */
};

int commit_overlay(const char *path, const struct commit_opts *opts,
		   struct commit_result *res);
void commit_result_free(struct commit_result *res);

#endif
