/*
 * Planning an undo (or redo) from the extents logged at each commit,
 * without opening any image.
 *
 * Between head H and target N only the guest ranges written by the
 * commits in between can differ; the plan covers exactly their union.
 * Each piece of it gets the content state N has there: the data of the
 * newest kept commit <= N that wrote it (read from that archive at the
 * logged host offset), else the pristine copy's, else zeros (space a
 * later commit grew the base by).  Pure: tested against a model.
 */
#ifndef OVL_PLAN_H
#define OVL_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "extents.h"

/* One kept (non-abandoned) commit: where it wrote, sorted and disjoint. */
struct commit_map {
	int64_t seq;
	uint64_t size_after;     /* base virtual size in state seq */
	struct extent *v;
	size_t n;
};

/* The states that can be rebuilt: oldest (the pristine copy) and then
 * every kept commit after it, ascending. */
struct lineage {
	int64_t oldest;
	uint64_t pristine_size;
	struct commit_map *c;
	size_t n;
};

enum piece_source { FROM_ARCHIVE, FROM_PRISTINE, FROM_ZERO };

struct piece {
	uint64_t start;
	uint64_t length;
	enum piece_source src;
	int64_t seq;             /* FROM_ARCHIVE: the commit */
	uint64_t offset;         /* FROM_ARCHIVE: host offset in its file */
};

struct plan {
	struct piece *v;
	size_t n, cap;
	uint64_t bytes;          /* total length of the pieces */
	uint64_t from_size, target_size;
	bool needs_pristine;
	/* A piece lives in a cluster without a plain host offset (compressed):
	 * this plan cannot be carried out by copying; use replay. */
	bool needs_replay;
};

/* Is SEQ a state of the lineage (oldest, or one of its commits)? */
bool lineage_has_state(const struct lineage *l, int64_t seq);
uint64_t lineage_size_of(const struct lineage *l, int64_t seq);

/* Plan the move from state HEAD to state TARGET (both in the lineage). */
void plan_move(const struct lineage *l, int64_t head, int64_t target, struct plan *p);

/*
 * The last check before a plan is carried out: its pieces are non-empty,
 * sorted, disjoint and inside [0, target_size), and (unless it needs
 * replay) each archive piece's host offset + length fits a file offset.
 * NULL when it holds, else why not (a static string).  Pure and cheap.
 */
const char *plan_validate(const struct plan *p);

void plan_free(struct plan *p);
void lineage_free(struct lineage *l);

#endif
