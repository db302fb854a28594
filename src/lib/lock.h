/*
 * Who else holds an image or a store.
 *
 * qemu takes open-file-description locks on bytes 100.. (permissions it
 * uses) and 200.. (permissions it does not share) of every image it opens
 * without -U.  Any such lock held by another process means a VM, qemu-nbd
 * or qemu-img is using the image, and we must not write it.
 */
#ifndef OVL_LOCK_H
#define OVL_LOCK_H

/* 0 when no qemu lock is held on PATH, OVL_EXIT_BUSY (reported) when one
 * is, OVL_EXIT_FAILURE (reported) when PATH cannot be probed. */
int probe_qemu_locks(const char *path);

/*
 * flock FD (HOW: LOCK_EX or LOCK_SH), waiting up to wait_ms for another
 * holder to let go.  SHOWN names the locked thing in messages.  Returns
 * 0, OVL_EXIT_BUSY (reported: "another ovl process is working here") or
 * OVL_EXIT_FAILURE (reported).
 */
int ovl_lock_fd(int fd, int how, const char *shown, unsigned wait_ms);

/*
 * The lock on an overlay FILE that every tool changing the overlay (or a
 * base through it) takes before its store's lock: an exclusive flock on
 * an O_RDONLY|O_NONBLOCK|O_NOFOLLOW descriptor of PATH, so that no open
 * blocks (a FIFO) or follows a link.  flock does not touch the OFD
 * byte-range locks qemu takes, so probing those still sees a VM.  *fd is
 * the holder, or -1 when PATH does not exist (nothing to guard: the
 * caller's next step reports it) or is not a regular file (the chain
 * reader refuses it).  Returns an exit code (busy after
 * OVL_LOCK_WAIT_MS).
 */
int ovl_lock_overlay(const char *path, int *fd);
void ovl_lock_release(int fd);

#define OVL_LOCK_WAIT_MS 10000

#endif
