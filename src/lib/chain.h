/*
 * An overlay and the chain of backing files below it, read and judged one
 * level at a time before anything is written.
 *
 * chain_open() refuses, with a message naming the file:
 *   - a top image that is not qcow2 or has no backing file;
 *   - a backing name that is json: or names a protocol (nbd:, http:, file:);
 *   - a missing backing format, or one other than raw/qcow2;
 *   - a qcow2 external data file, or an encrypted image;
 *   - backing loops, and chains deeper than CHAIN_MAX_DEPTH;
 *   - a qcow2 image that qemu-img check finds corrupt.
 */
#ifndef OVL_CHAIN_H
#define OVL_CHAIN_H

#include <stddef.h>
#include "image.h"

#define CHAIN_MAX_DEPTH 16

struct chain {
	size_t depth;                  /* number of images, >= 2 when open */
	struct image img[CHAIN_MAX_DEPTH]; /* [0] the overlay, [1] its base, ... */
};

int chain_open(const char *overlay_path, struct chain *c);

/*
 * chain_open() with a hook run once the overlay is read and judged and its
 * backing file found to be a regular file (c->depth is 1), before any
 * qemu-img child of the walk starts: the one moment a writer can probe
 * qemu's locks on both files without seeing its own children, and then
 * start work of its own beside the rest of the walk.  A non-zero return
 * stops the walk and is chain_open's result.
 */
struct chain_hook {
	int (*top_read)(const struct chain *c, void *arg);
	void *arg;
};
int chain_open_hooked(const char *overlay_path, struct chain *c, const struct chain_hook *hook);
void chain_free(struct chain *c);

/* The overlay and the image it is backed by. */
static inline const struct image *chain_top(const struct chain *c) { return &c->img[0]; }
static inline const struct image *chain_base(const struct chain *c) { return &c->img[1]; }

/*
 * The --image-opts string that opens image LEVEL of the chain with every
 * backing below it named explicitly (the headers' names are ignored), or
 * with no backing at all when with_backing is false.  Malloc'ed.
 */
char *chain_image_opts(const struct chain *c, size_t level, bool with_backing);

/* qemu-img check of one image (its backing not opened). */
int image_check(const struct image *img);

/* The same for a qcow2 file in the store (archive, pristine copy), whose
 * header alone says whether it has a backing to leave unopened. */
int image_check_file(const char *path);

#endif
