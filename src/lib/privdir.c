#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "privdir.h"
#include "report.h"
#include "files.h"
#include "strbuf.h"

static const char *root(void)
{
	static const char plain[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				    "0123456789/._-";
	const char *tmp = getenv("TMPDIR");

	struct stat st;

	if (!tmp || tmp[0] != '/' || strlen(tmp) > 60 || strspn(tmp, plain) != strlen(tmp))
		return "/tmp";
	/* Another user's directory, or one others may write without the
	 * sticky bit: they could swap our directory for a link. */
	if (stat(tmp, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)))
		return "/tmp";
	return tmp;
}

/* "TAG.PID.xxxxxx" whose PID is no longer a process. */
static bool is_stale(const char *name, const char *tag)
{
	size_t n = strlen(tag);
	char *end;
	long pid;

	if (strncmp(name, tag, n) != 0 || name[n] != '.')
		return false;
	pid = strtol(name + n + 1, &end, 10);
	return end != name + n + 1 && *end == '.' && pid > 0 &&
	       kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/*
 * Empty and remove NAME in the directory PARENT, through descriptors, only
 * if it is a real directory (not a symlink) owned by us: another user who
 * plants TAG.DEADPID.x as a link to a directory of root's, or makes such
 * a directory of their own, must not have us empty it.  Files are
 * unlinked relative to the directory's own descriptor, so renaming it
 * away mid-sweep changes nothing.
 */
static void remove_private(int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || !(d = fdopendir(fd))) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	/* Fails unless empty: a directory swapped in under NAME meanwhile
	 * keeps whatever it holds. */
	unlinkat(parent, name, AT_REMOVEDIR);
}

static void sweep_stale(const char *tag)
{
	int parent = open(root(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = parent >= 0 ? fdopendir(dup(parent)) : NULL;
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (is_stale(de->d_name, tag))
			remove_private(parent, de->d_name);
	if (d)
		closedir(d);
	if (parent >= 0)
		close(parent);
}

char *privdir_create(const char *tag, const char *subject)
{
	char *dir;

	sweep_stale(tag);
	dir = xasprintf("%s/%s.%ld.XXXXXX", root(), tag, (long)getpid());
	if (!mkdtemp(dir)) {
		ovl_error_errno(subject, errno, "cannot create a private directory in %s",
				ovl_quote(root()));
		free(dir);
		return NULL;
	}
	return dir;
}

void privdir_remove(char *dir)
{
	char *parent_path = dir ? path_dirname(dir) : NULL;
	char *name = dir ? path_basename(dir) : NULL;
	int parent = parent_path ? open(parent_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	if (parent >= 0) {
		remove_private(parent, name);
		close(parent);
	}
	free(parent_path);
	free(name);
	free(dir);
}
