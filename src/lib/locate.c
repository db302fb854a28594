#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "exitcodes.h"
#include "files.h"
#include "locate.h"
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

static int check_belongs(const struct store *s, void *path)
{
	return store_check_belongs(s, path);
}

int store_open_for(const char *path, const char *store_opt, enum store_mode mode,
		   struct store *s)
{
	struct store_op op = {
		.mode = mode, .lock_overlay = true,
		.check = check_belongs, .arg = (void *)path,
	};
	char *dir = store_dir_of(path, store_opt);
	int rc;

	if (!dir) {
		memset(s, 0, sizeof(*s));
		s->fd = s->lock_fd = s->overlay_lock = -1;
		return OVL_EXIT_FAILURE;
	}
	rc = store_open_op(s, dir, &op);
	free(dir);
	return rc;
}
