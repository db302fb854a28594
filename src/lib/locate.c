#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "exitcodes.h"
#include "files.h"
#include "journal.h"
#include "locate.h"
#include "lock.h"
#include "recover.h"
#include "report.h"
#include "siblings.h"
#include "strbuf.h"

/* A qcow2 header naming a backing file: an overlay.  Anything else given
 * to a history tool is taken for a base. */
static bool is_overlay(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *backing = fd >= 0 ? qcow2_header_backing(fd) : NULL;
	bool overlay = backing != NULL;

	if (fd >= 0)
		close(fd);
	free(backing);
	return overlay;
}

char *store_dir_of(const char *path, const char *store_opt)
{
	char *real = realpath(path, NULL);
	char *dir = NULL;
	struct chain c;

	if (!real) {
		ovl_error_errno(path, errno, "cannot open");
		return NULL;
	}
	if (store_opt)
		dir = store_dir_for(store_opt, real);
	else if (store_exists(dir = store_dir_for(NULL, real)) || !is_overlay(real))
		;   /* PATH is a base (with its store beside it, or with none) */
	else if (free(dir), chain_open(path, &c) == OVL_EXIT_OK) {
		char *base = realpath(chain_base(&c)->path, NULL);
		dir = base ? store_dir_for(NULL, base) : NULL;
		free(base);
		chain_free(&c);
	} else
		dir = NULL;
	free(real);
	return dir;
}

int store_check_belongs(const struct store *s, const char *path)
{
	char *real = realpath(path, NULL);
	char *abs = path_absolute(path);
	bool ok = (real && strcmp(real, s->base) == 0) || (abs && strcmp(abs, s->overlay) == 0);

	free(real);
	free(abs);
	if (ok)
		return OVL_EXIT_OK;
	ovl_error(path, "is neither the base nor the overlay of the history in %s",
		  ovl_quote(s->dir));
	return OVL_EXIT_FAILURE;
}

static int lock_overlay_dir(const char *dir, int *fd)
{
	struct store peek;
	char *odir;
	int rc = store_open_unlocked(&peek, dir);

	*fd = -1;
	if (!rc) {
		odir = path_dirname(peek.overlay);
		*fd = ovl_lock_acquire(odir, 0, OVL_LOCK_WAIT_MS);
		free(odir);
		rc = *fd < 0 ? -*fd : OVL_EXIT_OK;
	}
	store_close(&peek);
	return rc;
}

static int open_locked(const char *path, const char *dir, bool dry_run, struct located *loc)
{
	bool recovered;
	int rc = lock_overlay_dir(dir, &loc->dir_lock);

	if (!rc)
		rc = store_open(&loc->s, dir, !dry_run);
	if (!rc)
		rc = store_check_belongs(&loc->s, path);
	if (!rc && !dry_run)
		rc = store_recover(&loc->s, &recovered);
	return rc;
}

/* An empty loc, and the store directory of PATH (NULL after a message). */
static char *locate_start(const char *path, const char *store_opt, struct located *loc)
{
	memset(loc, 0, sizeof(*loc));
	loc->dir_lock = -1;
	return store_dir_of(path, store_opt);
}

int store_open_for(const char *path, const char *store_opt, bool dry_run, struct located *loc)
{
	char *dir = locate_start(path, store_opt, loc);
	int rc;

	if (!dir)
		return OVL_EXIT_FAILURE;
	rc = open_locked(path, dir, dry_run, loc);
	free(dir);
	return rc;
}

int store_open_to_read(const char *path, const char *store_opt, struct located *loc)
{
	char *dir = locate_start(path, store_opt, loc);
	int rc;

	if (!dir)
		return OVL_EXIT_FAILURE;
	rc = store_open_unlocked(&loc->s, dir);
	if (!rc)
		rc = store_check_belongs(&loc->s, path);
	/* Unfinished work first, as every tool does; then read as usual. */
	if (!rc && !journal_is_empty(&loc->s)) {
		store_close(&loc->s);
		rc = open_locked(path, dir, false, loc);
	}
	free(dir);
	return rc;
}

void located_close(struct located *loc)
{
	if (loc->s.dir)
		store_close(&loc->s);
	ovl_lock_release(loc->dir_lock);
	loc->dir_lock = -1;
}
