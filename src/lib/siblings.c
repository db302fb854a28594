#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcodes.h"
#include "files.h"
#include "report.h"
#include "siblings.h"
#include "strbuf.h"

#define QCOW2_MAGIC 0x514649fbu   /* "QFI\xfb" */
#define QCOW2_BACKING_MAX 1023    /* qemu's own limit on the name */

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_AREA 4096   /* where we look for it: qemu puts it first */

/* The backing-format extension among those starting at byte START. */
static char *read_backing_format(int fd, uint32_t start)
{
	unsigned char ext[QCOW2_EXT_AREA];
	ssize_t got = pread(fd, ext, sizeof(ext), start);

	for (size_t at = 0; got > 0 && at + 8 <= (size_t)got;) {
		uint32_t type = be32(ext + at), len = be32(ext + at + 4);
		if (type == 0 || len > (size_t)got - at - 8)
			break;
		if (type == QCOW2_EXT_BACKING_FORMAT && len > 0 && len < 32 &&
		    !memchr(ext + at + 8, '\0', len)) {
			char *fmt = xcalloc(1, len + 1);
			memcpy(fmt, ext + at + 8, len);
			return fmt;
		}
		at += 8 + (((size_t)len + 7) & ~(size_t)7);
	}
	return NULL;
}

int qcow2_header_read(int fd, struct qcow2_header *h)
{
	unsigned char hdr[104];
	ssize_t n = pread(fd, hdr, sizeof(hdr), 0);

	memset(h, 0, sizeof(*h));
	if (n < 72 || be32(hdr) != QCOW2_MAGIC)
		return -1;
	h->version = be32(hdr + 4);
	h->cluster_bits = be32(hdr + 20);
	h->size = be64(hdr + 24);
	if (h->version >= 3 && n >= 80)
		h->incompatible = be64(hdr + 72);
	h->backing = qcow2_header_backing(fd);
	h->backing_format = read_backing_format(fd, h->version >= 3 && n >= 104 ?
						be32(hdr + 100) : 72);
	return 0;
}

void qcow2_header_free(struct qcow2_header *h)
{
	free(h->backing);
	free(h->backing_format);
	h->backing = h->backing_format = NULL;
}

char *qcow2_header_backing(int fd)
{
	unsigned char hdr[20];
	char *name;

	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) || be32(hdr) != QCOW2_MAGIC)
		return NULL;
	uint64_t offset = be64(hdr + 8);
	uint32_t len = be32(hdr + 16);
	if (offset == 0 || len == 0 || len > QCOW2_BACKING_MAX)
		return NULL;
	name = xcalloc(1, len + 1);
	if (pread(fd, name, len, (off_t)offset) != (ssize_t)len || memchr(name, '\0', len)) {
		free(name);
		return NULL;
	}
	return name;
}

/* Does the image at PATH (in DIR) name BASE as its backing file? */
static bool backed_by(const char *dir, const char *path, const char *base)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	char *name, *full, *real;
	bool same = false;

	if (fd < 0)
		return false;
	name = qcow2_header_backing(fd);
	close(fd);
	if (!name)
		return false;
	full = name[0] == '/' ? xstrdup(name) : path_join(dir, name);
	real = realpath(full, NULL);
	same = real && strcmp(real, base) == 0;
	free(real);
	free(full);
	free(name);
	return same;
}

static bool is_candidate(int dfd, const char *name)
{
	struct stat st;

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strncmp(name, ".ovl-tmp-", 9) == 0)
		return false;
	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

int refuse_other_overlays(const char *base, const char *overlay)
{
	char *dir = path_dirname(base);
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = OVL_EXIT_OK;

	if (!d) {
		ovl_error_errno(dir, errno, "cannot read directory");
		free(dir);
		return OVL_EXIT_FAILURE;
	}
	while (rc == OVL_EXIT_OK && (de = readdir(d))) {
		if (!is_candidate(dirfd(d), de->d_name))
			continue;
		char *path = path_join(dir, de->d_name);
		if (strcmp(path, overlay) != 0 && backed_by(dir, path, base)) {
			ovl_error(base, "another overlay, %s, is backed by this base; "
				  "committing would corrupt it", ovl_quote(path));
			rc = OVL_EXIT_FAILURE;
		}
		free(path);
	}
	closedir(d);
	free(dir);
	return rc;
}
