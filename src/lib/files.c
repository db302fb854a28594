#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_SELINUX
#include <selinux/selinux.h>
#endif

#include "exitcodes.h"
#include "files.h"
#include "report.h"
#include "strbuf.h"

char *path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return strndup(path, (size_t)(slash - path));
}

char *path_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return xstrdup(slash ? slash + 1 : path);
}

char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	return xasprintf("%s%s%s", dir, (n && dir[n - 1] == '/') ? "" : "/", name);
}

char *path_absolute(const char *path)
{
	char *dir = path_dirname(path);
	char *base = path_basename(path);
	char *real = realpath(dir, NULL);
	char *abs = NULL;
	int saved;

	if (real && base[0] && strcmp(base, ".") != 0 && strcmp(base, "..") != 0)
		abs = path_join(real, base);
	else if (real)
		errno = EISDIR;
	saved = errno;
	free(dir);
	free(base);
	free(real);
	errno = saved;
	return abs;
}

/* FNV-1a: a short stable tag of the target's name for its temp files. */
static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

char *tmp_prefix_for(const char *target)
{
	char *dir = path_dirname(target);
	char *base = path_basename(target);
	char *prefix = xasprintf("%s/.ovl-tmp-%08x-", dir, name_hash(base));

	free(dir);
	free(base);
	return prefix;
}

static void random_suffix(char *out, size_t n)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char bytes[16];

	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		for (size_t i = 0; i < sizeof(bytes); i++)
			bytes[i] = (unsigned char)(rand() ^ getpid());
	for (size_t i = 0; i + 1 < n && i < sizeof(bytes); i++)
		out[i] = alphabet[bytes[i] % (sizeof(alphabet) - 1)];
	out[n - 1] = '\0';
}

int tmp_create_beside_fd(const char *target, char **path_out)
{
	char *prefix = tmp_prefix_for(target);
	int saved = 0;

	for (int attempt = 0; attempt < 100; attempt++) {
		char suffix[13];
		random_suffix(suffix, sizeof(suffix));
		char *path = xasprintf("%s%s", prefix, suffix);
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			free(prefix);
			*path_out = path;
			return fd;
		}
		saved = errno;
		free(path);
		if (saved != EEXIST)
			break;
	}
	ovl_error_errno(target, saved, "cannot create a temporary file beside it");
	free(prefix);
	*path_out = NULL;
	return -1;
}

char *tmp_create_beside(const char *target)
{
	char *path;
	int fd = tmp_create_beside_fd(target, &path);

	if (fd >= 0)
		close(fd);
	return path;
}

static int remove_matching(DIR *d, const char *dir, const char *name_prefix)
{
	size_t plen = strlen(name_prefix);
	struct dirent *de;
	int removed = 0;

	while ((de = readdir(d))) {
		if (strncmp(de->d_name, name_prefix, plen) != 0)
			continue;
		/* unlinkat never follows a symlink: a planted link goes, its
		 * target stays. */
		if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			char *p = path_join(dir, de->d_name);
			ovl_error_errno(p, errno, "cannot remove leftover temporary file");
			free(p);
			return -1;
		}
		removed++;
	}
	return removed;
}

int tmp_remove_leftovers(const char *target)
{
	char *prefix = tmp_prefix_for(target);
	char *dir = path_dirname(prefix);
	char *name_prefix = path_basename(prefix);
	DIR *d = opendir(dir);
	int removed = -1;

	if (!d)
		ovl_error_errno(dir, errno, "cannot read directory");
	else {
		removed = remove_matching(d, dir, name_prefix);
		closedir(d);
		if (removed > 0 && fsync_path(dir, true) != 0)
			removed = -1;
	}
	free(prefix);
	free(dir);
	free(name_prefix);
	return removed;
}

int tmp_remove_all_in(const char *dir)
{
	DIR *d = opendir(dir);
	int removed;

	if (!d) {
		ovl_error_errno(dir, errno, "cannot read directory");
		return -1;
	}
	removed = remove_matching(d, dir, ".ovl-tmp-");
	closedir(d);
	if (removed > 0 && fsync_path(dir, true) != 0)
		removed = -1;
	return removed;
}

int fsync_path(const char *path, bool is_dir)
{
	int fd = open(path, (is_dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0) {
		ovl_error_errno(path, errno, "cannot sync to disk");
		if (fd >= 0)
			close(fd);
		return OVL_EXIT_FAILURE;
	}
	close(fd);
	return OVL_EXIT_OK;
}

int fsync_parent_dir(const char *path)
{
	char *dir = path_dirname(path);
	int rc = fsync_path(dir, true);

	free(dir);
	return rc;
}

static int finish_rename(const char *from, const char *to, int rc)
{
	if (rc < 0) {
		ovl_error_errno(to, errno, "cannot rename %s into place", ovl_quote(from));
		return OVL_EXIT_FAILURE;
	}
	return fsync_parent_dir(to);
}

int rename_replace(const char *from, const char *to)
{
	return finish_rename(from, to, rename(from, to));
}

int rename_noreplace(const char *from, const char *to)
{
	int rc = renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);

	/* Filesystems without RENAME_NOREPLACE: link() fails on an existing
	 * target just the same. */
	if (rc < 0 && errno == EINVAL) {
		rc = link(from, to);
		if (rc == 0 && unlink(from) < 0)
			rc = -1;
	}
	return finish_rename(from, to, rc);
}

/* Is the file at PATH (not followed) the inode FD holds? */
static bool path_holds_fd(const char *path, int fd)
{
	struct stat a, b;

	return lstat(path, &a) == 0 && fstat(fd, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int rename_replace_checked(const char *from, const char *to, int fd)
{
	if (rename(from, to) < 0)
		return finish_rename(from, to, -1);
	if (!path_holds_fd(to, fd)) {
		ovl_error(to, "the temporary file %s was replaced by another file "
			  "before it was renamed into place; that file is left there, "
			  "nothing was written through it", ovl_quote(from));
		return OVL_EXIT_FAILURE;
	}
	return finish_rename(from, to, 0);
}

static int copy_label(int fd, const char *path, const char *label_from)
{
#ifdef HAVE_SELINUX
	char *con = NULL;

	if (getfilecon(label_from, &con) < 0)
		return OVL_EXIT_OK;   /* no label there, or no SELinux */
	int rc = fsetfilecon(fd, con);
	int saved = errno;
	freecon(con);
	if (rc < 0 && saved != ENOTSUP) {
		ovl_error_errno(path, saved, "cannot set SELinux label");
		return OVL_EXIT_FAILURE;
	}
#else
	(void)fd; (void)path; (void)label_from;
#endif
	return OVL_EXIT_OK;
}

int copy_file_attrs_fd(int fd, const char *path, const struct stat *st,
		       const char *label_from)
{
	/* chown first: it clears set-id bits that fchmod then restores. */
	if (fchown(fd, st->st_uid, st->st_gid) < 0) {
		ovl_error_errno(path, errno, "cannot set owner %u:%u",
				(unsigned)st->st_uid, (unsigned)st->st_gid);
		return OVL_EXIT_FAILURE;
	}
	if (fchmod(fd, st->st_mode & 07777) < 0) {
		ovl_error_errno(path, errno, "cannot set mode %04o", st->st_mode & 07777);
		return OVL_EXIT_FAILURE;
	}
	return copy_label(fd, path, label_from);
}

int fsync_fd(int fd, const char *path)
{
	if (fsync(fd) < 0) {
		ovl_error_errno(path, errno, "cannot sync to disk");
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}
