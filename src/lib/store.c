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
#include "schema.h"
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
	return path_join(s->dir, name);
}

char *store_archive_name(int64_t seq)
{
	return xasprintf(STORE_COMMITS_DIR "/%08" PRId64 ".qcow2", seq);
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

int store_load_meta(struct store *s)
{
	char *pristine;

	clear_meta(s);
	s->base = meta_text(s, "base");
	s->base_format = meta_text(s, "base_format");
	s->overlay = meta_text(s, "overlay");
	pristine = meta_text(s, "pristine");
	s->pristine = pristine ? store_path(s, pristine) : NULL;
	free(pristine);
	s->head = meta_int(s, "head");
	s->oldest = meta_int(s, "oldest");
	if (!s->base || !s->base_format || !s->overlay) {
		ovl_error(s->db.path, "history database lacks its base or overlay; "
			  "left untouched");
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
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

/*
 * Open history.db and check it is ours before anything else touches it.
 * Read-write even for reading: a read-only connection to a WAL database
 * leaves its -wal and -shm files behind; read-only media get a read-only
 * connection.  The connection writes nothing until a caller does.
 */
static int open_db(struct store *s)
{
	char *path = store_path(s, STORE_DB_NAME);
	int rc = db_open_quiet(&s->db, path, false);

	if (rc)
		rc = db_open(&s->db, path, false, true);
	free(path);
	if (!rc)
		rc = schema_check(&s->db, s->writable);
	/* FULL: a logged step survives power loss (the WAL is synced at each
	 * commit, never skipped). */
	if (!rc)
		rc = db_exec(&s->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
	return rc;
}

static int lock_store(struct store *s)
{
	int fd = ovl_lock_acquire(s->dir, 0, OVL_LOCK_WAIT_MS);

	if (fd < 0)
		return -fd;
	s->lock_fd = fd;
	return OVL_EXIT_OK;
}

static void store_init(struct store *s, const char *dir, bool writable)
{
	memset(s, 0, sizeof(*s));
	s->dir = xstrdup(dir);
	s->lock_fd = -1;
	s->writable = writable;
}

int store_open(struct store *s, const char *dir, bool writable)
{
	int rc;

	store_init(s, dir, writable);
	if (!store_exists(dir)) {
		ovl_error(dir, "has no history (no %s)", STORE_DB_NAME);
		return OVL_EXIT_FAILURE;
	}
	/* Say so plainly, before sqlite fails on its -shm file instead. */
	if (writable && access(dir, W_OK) < 0) {
		ovl_error_errno(dir, errno, "cannot write the history store");
		return OVL_EXIT_FAILURE;
	}
	rc = lock_store(s);
	if (!rc)
		rc = open_db(s);
	if (!rc)
		rc = store_load_meta(s);
	return rc;
}

int store_open_unlocked(struct store *s, const char *dir)
{
	int rc;

	store_init(s, dir, false);
	if (!store_exists(dir)) {
		ovl_error(dir, "has no history (no %s)", STORE_DB_NAME);
		return OVL_EXIT_FAILURE;
	}
	rc = open_db(s);
	if (!rc)
		rc = store_load_meta(s);
	return rc;
}

static int make_store_dir(const char *dir)
{
	char *commits = path_join(dir, STORE_COMMITS_DIR);
	int rc = OVL_EXIT_OK;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ovl_error_errno(dir, errno, "cannot create history store");
		rc = OVL_EXIT_FAILURE;
	} else if (mkdir(commits, 0700) < 0 && errno != EEXIST) {
		ovl_error_errno(commits, errno, "cannot create history store");
		rc = OVL_EXIT_FAILURE;
	} else if (fsync_path(dir, true) || fsync_parent_dir(dir))
		rc = OVL_EXIT_FAILURE;
	free(commits);
	return rc;
}

static int write_first_meta(struct store *s, const char *base,
			    const char *base_format, const char *overlay)
{
	int rc = db_begin(&s->db);

	if (!rc)
		rc = schema_create(&s->db);
	if (!rc)
		rc = store_set_meta(s, "base", base);
	if (!rc)
		rc = store_set_meta(s, "base_format", base_format);
	if (!rc)
		rc = store_set_meta(s, "overlay", overlay);
	if (!rc)
		rc = store_set_meta_int(s, "created_us", store_now_us());
	if (!rc)
		rc = store_set_meta_int(s, "head", 0);
	if (!rc)
		rc = store_set_meta_int(s, "oldest", 0);
	return db_finish(&s->db, rc);
}

/* Build the database under a temporary name and rename it into place:
 * a crash never leaves a half-made history.db behind. */
static int make_db_file(struct store *s, const char *base,
			const char *base_format, const char *overlay)
{
	char *final = store_path(s, STORE_DB_NAME);
	char *tmp = tmp_create_beside(final);
	struct db db = { 0 };
	int rc = OVL_EXIT_FAILURE;

	/* WAL is chosen once, here: one fsync per logged step. */
	if (tmp && db_open(&db, tmp, false, false) == OVL_EXIT_OK &&
	    db_exec(&db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL") == OVL_EXIT_OK) {
		struct db saved = s->db;
		s->db = db;
		rc = write_first_meta(s, base, base_format, overlay);
		db = s->db;
		s->db = saved;
		db_close(&db);
	}
	if (!rc)
		rc = fsync_path(tmp, false);
	if (!rc)
		rc = rename_noreplace(tmp, final);
	if (tmp && rc)
		unlink(tmp);
	free(tmp);
	free(final);
	return rc;
}

int store_create(struct store *s, const char *dir, const char *base,
		 const char *base_format, const char *overlay)
{
	int rc;

	store_init(s, dir, true);
	rc = make_store_dir(dir);
	if (!rc)
		rc = lock_store(s);
	if (!rc)
		tmp_remove_all_in(dir);
	/* Someone else may have made it while we waited for the lock. */
	if (!rc && !store_exists(dir))
		rc = make_db_file(s, base, base_format, overlay);
	if (rc)
		return rc;
	store_close(s);
	return store_open(s, dir, true);
}

void store_close(struct store *s)
{
	db_close(&s->db);
	ovl_lock_release(s->lock_fd);
	s->lock_fd = -1;
	clear_meta(s);
	free(s->dir);
	s->dir = NULL;
}
