#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"
#include "files.h"
#include "lock.h"
#include "report.h"
#include "store.h"
#include "strbuf.h"

char *store_dir_for(const char *option_store, const char *base_path)
{
	if (option_store) {
		char *abs = path_absolute(option_store);
		return abs ? abs : xstrdup(option_store);
	}
	return xasprintf("%s.history", base_path);
}

bool store_exists(const char *dir)
{
	char *db = path_join(dir, STORE_DB_NAME);
	struct stat st;
	bool exists = lstat(db, &st) == 0;

	free(db);
	return exists;
}

char *store_path(const struct store *s, const char *name)
{
	return path_join(s->root, name);
}

char *store_archive_name(int64_t seq)
{
	return xasprintf(STORE_COMMITS_DIR "/%08" PRId64 ".qcow2", seq);
}

char *store_archive_path(const struct store *s, int64_t seq, const char *file)
{
	char *want = store_archive_name(seq);
	bool ours = file && strcmp(file, want) == 0;

	free(want);
	if (!ours) {
		ovl_error(s->dir, "history database names %s as the archive of commit %" PRId64
			  ", which is not a name of the store's own: refused",
			  ovl_quote(file ? file : ""), seq);
		return NULL;
	}
	if (store_check_entry(s, file, false))
		return NULL;
	return store_path(s, file);
}

int64_t store_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static char *meta_text(struct store *s, const char *key)
{
	char *v = NULL;

	db_query_text(&s->db, &v, "SELECT value FROM meta WHERE key = ?", "s", key);
	return v;
}

static int64_t meta_int(struct store *s, const char *key)
{
	char *v = meta_text(s, key);
	int64_t n = v ? strtoll(v, NULL, 10) : 0;

	free(v);
	return n;
}

static void clear_meta(struct store *s)
{
	free(s->base);
	free(s->base_format);
	free(s->overlay);
	free(s->pristine);
	s->base = s->base_format = s->overlay = s->pristine = NULL;
}

/* A format name as qemu spells one ("raw", "qcow2"): nothing that could
 * make "pristine.FORMAT" leave the store or name another file. */
static bool plain_format(const char *fmt)
{
	return fmt[0] && strspn(fmt, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(fmt);
}

/* The pristine copy's name from meta: "pristine.FORMAT" for the base's
 * format, and a file of ours where it exists. */
static int load_pristine(struct store *s)
{
	char *name = meta_text(s, "pristine");
	char *want = xasprintf("pristine.%s", s->base_format);
	int rc = OVL_EXIT_OK;

	if (name && (!plain_format(s->base_format) || strcmp(name, want) != 0)) {
		ovl_error(s->dir, "history database names %s as the pristine copy, which is "
			  "not a name of the store's own: refused", ovl_quote(name));
		rc = OVL_EXIT_FAILURE;
	} else if (name)
		rc = store_check_entry(s, name, false);
	if (!rc && name)
		s->pristine = store_path(s, name);
	free(want);
	free(name);
	return rc;
}

int store_load_meta(struct store *s)
{
	clear_meta(s);
	s->base = meta_text(s, "base");
	s->base_format = meta_text(s, "base_format");
	s->overlay = meta_text(s, "overlay");
	s->head = meta_int(s, "head");
	s->oldest = meta_int(s, "oldest");
	if (!s->base || !s->base_format || !s->overlay) {
		ovl_error(s->db.path, "history database lacks its base or overlay; "
			  "left untouched");
		return OVL_EXIT_FAILURE;
	}
	return load_pristine(s);
}

int store_set_meta(struct store *s, const char *key, const char *value)
{
	return db_run(&s->db, "INSERT INTO meta(key, value) VALUES (?, ?) "
		      "ON CONFLICT(key) DO UPDATE SET value = excluded.value", "ss", key, value);
}

int store_set_meta_int(struct store *s, const char *key, int64_t value)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, value);
	return store_set_meta(s, key, buf);
}


void store_close(struct store *s)
{
	db_close(&s->db);
	if (s->root)
		ovl_path_alias(s->root, NULL);
	if (s->lock_fd >= 0)
		close(s->lock_fd);   /* drops the store lock */
	if (s->fd >= 0)
		close(s->fd);
	s->fd = s->lock_fd = -1;
	ovl_lock_release(s->overlay_lock);
	s->overlay_lock = -1;
	clear_meta(s);
	free(s->root);
	free(s->dir);
	s->root = s->dir = NULL;
}
