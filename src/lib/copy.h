/* Copying whole image files into the store. */
#ifndef OVL_COPY_H
#define OVL_COPY_H

#include "digest.h"

/*
 * Copy SRC into DST (an existing empty file, see tmp_create_beside):
 * a reflink where the filesystem can share blocks, else a sparse copy of
 * SRC's data segments.  DST is fsync'ed.  The digest of the content is
 * written to digest_out (computed while copying, or read after a
 * reflink).  Returns an exit code; ENOSPC and friends are reported with
 * DST named.
 */
int copy_file_sparse(const char *src, const char *dst, char digest_out[DIGEST_STR_LEN]);

/* The same between open files (paths only for messages): DST is reached
 * through its descriptor, whatever happens to its name meanwhile. */
int copy_fd_sparse(int src, const char *src_path, int dst, const char *dst_path,
		   char digest_out[DIGEST_STR_LEN]);

#endif
