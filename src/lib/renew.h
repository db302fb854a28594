/*
 * Renewing an overlay: replace it with an empty qcow2 image that has the
 * same backing file (name kept as written), backing format, virtual size,
 * qcow2 creation options, owner, group, mode and SELinux label.
 *
 * The new image is made beside the old one under a temporary name and
 * renamed over it, so the overlay's path always holds a usable image.
 */
#ifndef OVL_RENEW_H
#define OVL_RENEW_H

#include <stdbool.h>
#include "chain.h"

struct renew_opts {
	bool discard;   /* replace even if the overlay holds data */
	bool dry_run;   /* say what would happen, change nothing */
	const char *store_dir;  /* --store: where to look for work to recover */
};

/* The whole ovl-renew job for one operand: open and judge the chain,
 * probe locks, refuse data unless discard, replace.  Returns an exit code. */
int renew_overlay(const char *path, const struct renew_opts *opts);

/*
 * Replace the overlay at the top of an already-judged chain with a fresh
 * empty one (no data check: the caller decided).  Used by commit and undo
 * after they have made the overlay's data redundant.
 */
int renew_replace(const struct chain *c, const char *overlay_path);

/*
 * renew_replace() in two halves, so that the new overlay is made while
 * other work runs (the commit it will replace the overlay after):
 * renew_prepare_start() makes it under a temporary name in a thread;
 * renew_prepare_finish() waits for it and, if RC (the other work's exit
 * code) and the making both went well, installs it over the overlay after
 * probing its locks once more; otherwise it removes it.  Returns the first
 * failure.  c must stay open until then.
 */
struct renew_job;
struct renew_job *renew_prepare_start(const struct chain *c, const char *overlay_path);
int renew_prepare_finish(struct renew_job *job, int rc);
/* Create an empty overlay like c's top in the open empty file FD (made by
 * tmp_create_beside_fd; NEW_PATH, its name, is only used in messages):
 * qemu-img writes through /dev/fd/FD, never through the name. */
int renew_create_image(const struct chain *c, const char *overlay_path,
		       const char *new_path, int fd);

#endif
