#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
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

	if (!tmp || tmp[0] != '/' || strlen(tmp) > 60 || strspn(tmp, plain) != strlen(tmp))
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

static void empty_and_remove(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
	rmdir(dir);
}

static void sweep_stale(const char *tag)
{
	DIR *d = opendir(root());
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (!is_stale(de->d_name, tag))
			continue;
		char *dir = path_join(root(), de->d_name);
		empty_and_remove(dir);
		free(dir);
	}
	if (d)
		closedir(d);
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
	if (dir)
		empty_and_remove(dir);
	free(dir);
}
