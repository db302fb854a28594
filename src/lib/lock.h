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
 * Take an exclusive lock on PATH (a directory or a lock file, created if
 * missing when create is set) that serializes ovl processes; wait up to
 * wait_ms.  Returns the descriptor holding it, or -OVL_EXIT_BUSY /
 * -OVL_EXIT_FAILURE after reporting.
 */
int ovl_lock_acquire(const char *path, int create, unsigned wait_ms);
void ovl_lock_release(int fd);

#define OVL_LOCK_WAIT_MS 10000

#endif
