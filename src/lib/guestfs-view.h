/*
 * The guest's files in one disk state, read with libguestfs.
 *
 * A state is served read-only by a qemu-nbd of our own (the image spec is
 * a qemu json: name, so every layer and its backing are named explicitly
 * and no image header is trusted), and a libguestfs appliance with that
 * export as its only drive mounts each filesystem read-only in turn and
 * lists it.  One appliance per state, never two states in one appliance:
 * two copies of one disk in one kernel share LVM PV and btrfs UUIDs, and
 * the kernel would mix them up.
 *
 * Built only with libguestfs (HAVE_LIBGUESTFS).
 */
#ifndef OVL_GUESTFS_VIEW_H
#define OVL_GUESTFS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "nbd.h"
#include "run.h"

/* A qemu-nbd serving a json: image spec, read-only, on a unix socket;
 * it lives as long as it has a client, ours included. */
struct gv_export {
	struct run_child child;
	char *sock;
	struct nbd hold;         /* our connection (fd -1: none) */
};

/*
 * Serve SPEC (a "json:{...}" file name) on the unix socket SOCK (in a
 * private directory of the caller's) and wait until it serves (the image
 * opened: it greets a client).  SUBJECT and WHAT name it in messages
 * ("state 3").  Returns an exit code, reported; on failure nothing is
 * left running.
 */
int gv_export_start(struct gv_export *e, const char *sock, const char *spec,
		    const char *subject, const char *what);
/* Stop the server and remove its socket (safe on a zeroed or failed one). */
void gv_export_stop(struct gv_export *e);

/* One file as lstat sees it inside the guest filesystem. */
struct gv_entry {
	char *path;              /* from the filesystem's root: "/etc/fstab" */
	int64_t mode, uid, gid, size, rdev;
	int64_t mtime_sec, mtime_nsec, ctime_sec, ctime_nsec;
};

struct gv_fs {
	char *device;            /* as libguestfs names it: "/dev/sda1" */
	char *type;              /* "ext4" */
	bool readable;           /* mounted and listed; else why is set */
	char *why;               /* libguestfs's word on a failed mount */
	struct gv_entry *v;      /* sorted by path (strcmp) */
	size_t n;
	char *paths;             /* the block the entries' paths live in */
};

/* Every filesystem libguestfs finds on one disk, in its order.  Swap,
 * unknown content and btrfs subvolumes (their files are listed with the
 * whole btrfs filesystem) are left out. */
struct gv_disk {
	struct gv_fs *fs;
	size_t n;
	char *error;             /* why reading it failed: "state 3: ..." */
};

struct gv_read_opts {
	const char *sock;        /* the export to read */
	const char *scratch;     /* a file name we may create and remove */
	const char *what;        /* names the disk in messages: "state 3" */
	/* The appliance failed to start: try again once under TCG (a host
	 * whose KVM cannot run it). */
	bool retry_tcg;
};

/*
 * Start an appliance on the export and list every filesystem on it.  A
 * filesystem that cannot be mounted is kept with readable false, not an
 * error.  Made to run in a thread of its own, one per disk, so it reports
 * nothing itself: on failure (an exit code) d->error says why, for the
 * caller to report.  *d is filled as far as it got either way and must
 * be freed.
 */
int gv_read_disk(const struct gv_read_opts *o, struct gv_disk *d);
void gv_disk_free(struct gv_disk *d);

/* The filesystem DEVICE of D, or NULL. */
const struct gv_fs *gv_disk_find(const struct gv_disk *d, const char *device);

/*
 * Has the file changed from A to B?  Type, permissions, owner, size,
 * device number, mtime or ctime; a directory only by type, permissions
 * or owner (its timestamps move with every entry added or removed, and
 * the entries are listed themselves).  atime never counts.  File content
 * is not read: a rewrite shows through ctime, which no guest program can
 * set back, unless it kept the size within one tick of a filesystem with
 * coarse timestamps (whole seconds: ext4 with small inodes, or made by
 * mke2fs -d; two seconds: FAT).
 */
bool gv_entry_changed(const struct gv_entry *a, const struct gv_entry *b);

#endif
