#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy.h"
#include "exitcodes.h"
#include "report.h"

struct sparse_copy {
	int dst;
	struct digest *digest;
};

static int write_all(int fd, const unsigned char *buf, size_t len, uint64_t offset)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

static int copy_chunk(void *arg, uint64_t offset, const unsigned char *buf, size_t len)
{
	struct sparse_copy *c = arg;

	digest_feed(c->digest, offset, buf, len);
	return write_all(c->dst, buf, len, offset);
}

static int try_reflink(int src, int dst)
{
	return ioctl(dst, FICLONE, src) == 0 ? 0 : -1;
}

static int copy_fds(int src, int dst, uint64_t size, const char *src_path,
		    char digest_out[DIGEST_STR_LEN])
{
	struct sparse_copy c = { dst, NULL };

	/* The copy's digest, read from the copy: the source may belong to
	 * someone who changes it while we read. */
	if (try_reflink(src, dst) == 0)
		return digest_fd(dst, src_path, digest_out) ? -1 : 0;
	c.digest = digest_new();
	if (for_each_data_chunk(src, size, copy_chunk, &c) < 0 ||
	    ftruncate(dst, (off_t)size) < 0) {
		int saved = errno;
		digest_finish(c.digest, size, digest_out);
		errno = saved;
		return -1;
	}
	digest_finish(c.digest, size, digest_out);
	return 0;
}

int copy_fd_sparse(int src, const char *src_path, int dst, const char *dst_path,
		   char digest_out[DIGEST_STR_LEN])
{
	struct stat st;

	if (fstat(src, &st) < 0) {
		ovl_error_errno(src_path, errno, "cannot open to copy");
		return OVL_EXIT_FAILURE;
	}
	if (copy_fds(src, dst, (uint64_t)st.st_size, src_path, digest_out) < 0) {
		ovl_error_errno(dst_path, errno, "cannot copy %s", ovl_quote(src_path));
		return OVL_EXIT_FAILURE;
	}
	if (fsync(dst) < 0) {
		ovl_error_errno(dst_path, errno, "cannot sync copy to disk");
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}

int copy_file_sparse(const char *src_path, const char *dst_path,
		     char digest_out[DIGEST_STR_LEN])
{
	int src = open(src_path, O_RDONLY | O_CLOEXEC);
	int dst = open(dst_path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	int rc = OVL_EXIT_FAILURE;

	if (src < 0 || fstat(src, &st) < 0)
		ovl_error_errno(src_path, errno, "cannot open to copy");
	else if (dst < 0)
		ovl_error_errno(dst_path, errno, "cannot open copy");
	else if (copy_fds(src, dst, (uint64_t)st.st_size, src_path, digest_out) < 0)
		ovl_error_errno(dst_path, errno, "cannot copy %s", ovl_quote(src_path));
	else if (fsync(dst) < 0)
		ovl_error_errno(dst_path, errno, "cannot sync copy to disk");
	else
		rc = OVL_EXIT_OK;
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	return rc;
}
