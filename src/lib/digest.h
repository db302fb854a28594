/*
 * File digests for the store: "zxxh128:" and 32 hex digits.
 *
 * XXH3-128 over every 4 KiB block of the file that is not all zeros, each
 * preceded by its offset (64-bit little-endian), then the file's size; the
 * hash is written in xxhsum's canonical (big-endian) order.  Holes and
 * written zeros hash alike, so a sparse copy, a reflink and a full copy of
 * one file give one digest, and a mostly-empty 4 GiB base costs only its
 * data to hash.
 *
 * Why not a cryptographic hash: the digest catches accidental damage (bit
 * rot, a truncated copy, a file swapped by mistake).  Anyone able to
 * replace a file in the 0700 store can rewrite history.db too, so a
 * cryptographic hash would prove nothing more, and SHA-256 (even with the
 * CPU's SHA extensions, ~1.1 GB/s) took longer than the commit it ran
 * beside; XXH3 runs at memory speed.
 */
#ifndef OVL_DIGEST_H
#define OVL_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define DIGEST_PREFIX "zxxh128:"
#define DIGEST_STR_LEN (sizeof(DIGEST_PREFIX) - 1 + 32 + 1)
#define DIGEST_BLOCK 4096

struct digest;

struct digest *digest_new(void);
/* Feed data read at OFFSET; offsets must only grow, and every chunk must
 * start on a 4 KiB boundary (data segments are read aligned). */
void digest_feed(struct digest *d, uint64_t offset, const unsigned char *buf, size_t len);
/* Finish with the file size; writes the string into out. */
void digest_finish(struct digest *d, uint64_t file_size, char out[DIGEST_STR_LEN]);

/* Digest of a whole file (reading only its data segments).  Returns an
 * exit code, reported. */
int digest_file(const char *path, char out[DIGEST_STR_LEN]);
/* The same of an open file (PATH names it in messages). */
int digest_fd(int fd, const char *path, char out[DIGEST_STR_LEN]);
/* digest_fd() advancing PG (progress.h; NULL: none) by each byte of data
 * hashed. */
struct progress;
int digest_fd_progress(int fd, const char *path, char out[DIGEST_STR_LEN],
		       struct progress *pg);

/* The same in a background thread, so hashing overlaps a qemu-img run. */
struct digest_job;
struct digest_job *digest_file_start(const char *path);
int digest_file_join(struct digest_job *job, char out[DIGEST_STR_LEN]);

/*
 * Walk the data segments of an open file, calling fn on aligned chunks
 * (offset 4 KiB-aligned, at most 1 MiB).  Used by the digest and the
 * sparse copy.  Returns 0, or -1 with errno set (fn may set it too).
 */
typedef int (*segment_fn)(void *arg, uint64_t offset, const unsigned char *buf, size_t len);
int for_each_data_chunk(int fd, uint64_t size, segment_fn fn, void *arg);

#endif
