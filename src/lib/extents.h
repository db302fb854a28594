/*
 * Where an overlay holds data: the clusters allocated in the top image
 * alone (zero clusters included: a zero-write hides base data).
 */
#ifndef OVL_EXTENTS_H
#define OVL_EXTENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "chain.h"

struct extent {
	uint64_t start;
	uint64_t length;
	bool zero;       /* reads as zeros (a zero cluster) */
	int64_t offset;  /* where the data lies in the image file; -1: not
			    plainly stored (zero, compressed) */
};

struct extents {
	struct extent *v;
	size_t n;
	size_t cap;
	uint64_t bytes;  /* sum of lengths */
};

/* Map the overlay at the top of c (its backing is not opened). */
int extents_of_overlay(const struct chain *c, struct extents *ex);

/* The same in a thread, so the map overlaps other work (its inputs are
 * copied: the chain may be freed before the join). */
struct extents_job;
struct extents_job *extents_of_overlay_start(const struct chain *c);
/* Collect the result into ex (NULL: throw it away); an exit code. */
int extents_job_join(struct extents_job *job, struct extents *ex);

/* Map a qcow2 file on its own, backing ignored (archives in the store). */
int extents_of_file(const char *path, struct extents *ex);

/* Parse `qemu-img map --output=json` output, keeping "present" extents. */
int extents_parse_map(const char *json, const char *subject, struct extents *ex);

void extents_free(struct extents *ex);

/* The packed form kept in the store: 25 bytes an extent (start, length,
 * offset: 64-bit little-endian; zero: one byte). */
#define EXTENT_RECORD 25
void *extents_pack(const struct extent *v, size_t n, size_t *len);
/* Unpack into a malloc'ed array; -1 when LEN is not a whole number of
 * records. */
int extents_unpack(const void *blob, size_t len, struct extent **v, size_t *n);

/*
 * Can V[0..N) be the map of an image of SIZE virtual bytes, as read back
 * from the store?  Every extent non-empty, start + length without
 * overflow and not past SIZE; extents sorted by start and disjoint
 * (touching is fine); a host offset either -1 (none) or such that
 * offset + length fits an int64.  NULL when it can; else why not, a
 * static string, and *AT the index of the first bad extent.  Pure.
 */
const char *extents_validate(const struct extent *v, size_t n, uint64_t size, size_t *at);

#endif
