/*
 * The one way to open a history store for an operation: judge it (ours,
 * private, no symlinks) on its directory's descriptor, keep that
 * descriptor for the whole run, lock, and finish a crashed run's work.
 *
 * Why the descriptor: BASE.history sits in the base's directory, which
 * the image's owner may be able to write.  Between a check by name and a
 * later use they could rename the store away and put a symlink in its
 * place.  So nothing after the check goes by that name: our own opens are
 * made under /proc/self/fd/N (N the descriptor; the kernel resolves it to
 * the directory itself, wherever it now is), and so are sqlite's (db.c's
 * VFS takes such names verbatim) and qemu-img's (children inherit N).
 * Inside the store nothing can change under us: only its owner, us, can
 * write a directory that is ours and not writable by group or others.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcodes.h"
#include "files.h"
#include "journal.h"
#include "lock.h"
#include "recover.h"
#include "report.h"
#include "schema.h"
#include "store.h"
#include "strbuf.h"

/* Is ST a private IS_DIR-kind entry of ours?  SHOWN names it. */
static int judge_stat(const char *shown, const struct stat *st, bool is_dir)
{
	if (S_ISLNK(st->st_mode)) {
		ovl_error(shown, "history store is a symlink: refused");
		return OVL_EXIT_FAILURE;
	}
	if (is_dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
		ovl_error(shown, "history store is not a %s: refused",
			  is_dir ? "directory" : "regular file");
		return OVL_EXIT_FAILURE;
	}
	if (st->st_uid != geteuid()) {
		ovl_error(shown, "history store is owned by uid %u, not by the user running "
			  "ovl (uid %u): refused", (unsigned)st->st_uid, (unsigned)geteuid());
		return OVL_EXIT_FAILURE;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		ovl_error(shown, "history store is writable by group or others (mode %04o): "
			  "refused", (unsigned)(st->st_mode & 07777));
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}

int store_check_entry(const struct store *s, const char *name, bool is_dir)
{
	struct stat st;
	char *shown;
	int rc;

	if (fstatat(s->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return OVL_EXIT_OK;
		shown = path_join(s->dir, name);
		ovl_error_errno(shown, errno, "cannot read the history store");
		free(shown);
		return OVL_EXIT_FAILURE;
	}
	shown = path_join(s->dir, name);
	rc = judge_stat(shown, &st, is_dir);
	free(shown);
	return rc;
}

static void store_init(struct store *s, const char *dir)
{
	memset(s, 0, sizeof(*s));
	s->dir = xstrdup(dir);
	s->fd = s->lock_fd = -1;
	s->overlay_lock = -1;
}

/* Why DIR could not be opened as a directory without following a link. */
static int report_open_failure(const char *dir, int err)
{
	struct stat st;

	if ((err == ELOOP || err == ENOTDIR) && lstat(dir, &st) == 0)
		return judge_stat(dir, &st, true);
	ovl_error_errno(dir, err, "cannot open the history store");
	return OVL_EXIT_FAILURE;
}

/* s->fd on DIR, made (0700) first when CREATE and missing; *missing
 * when it is not there and may not be made. */
static int open_dir(struct store *s, bool create, bool *missing)
{
	int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;   /* inherited: see s->fd */

	*missing = false;
	s->fd = open(s->dir, flags);
	if (s->fd < 0 && errno == ENOENT && create) {
		if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
			ovl_error_errno(s->dir, errno, "cannot create history store");
			return OVL_EXIT_FAILURE;
		}
		s->fd = open(s->dir, flags);
	}
	if (s->fd >= 0)
		return OVL_EXIT_OK;
	if (errno == ENOENT) {
		*missing = true;
		return OVL_EXIT_OK;
	}
	return report_open_failure(s->dir, errno);
}

/* The directory judged, and reachable as /proc/self/fd/N (no /proc, no
 * way to use it safely). */
static int judge_dir(struct store *s)
{
	struct stat st, via;
	int rc;

	if (fstat(s->fd, &st) < 0) {
		ovl_error_errno(s->dir, errno, "cannot read the history store");
		return OVL_EXIT_FAILURE;
	}
	rc = judge_stat(s->dir, &st, true);
	if (rc)
		return rc;
	s->root = xasprintf("/proc/self/fd/%d", s->fd);
	if (stat(s->root, &via) < 0 || via.st_dev != st.st_dev || via.st_ino != st.st_ino) {
		ovl_error(s->dir, "cannot reach the history store through /proc/self/fd "
			  "(is /proc mounted?)");
		return OVL_EXIT_FAILURE;
	}
	ovl_path_alias(s->root, s->dir);
	s->lock_fd = openat(s->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->lock_fd < 0) {
		ovl_error_errno(s->dir, errno, "cannot open the history store");
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}

/* history.db, its -wal and -shm, commits/: ours, before sqlite reads a
 * byte of them. */
static int judge_files(struct store *s)
{
	static const char *const files[] = {
		STORE_DB_NAME, STORE_DB_NAME "-wal", STORE_DB_NAME "-shm",
	};
	int rc = OVL_EXIT_OK;

	for (size_t i = 0; !rc && i < sizeof(files) / sizeof(files[0]); i++)
		rc = store_check_entry(s, files[i], false);
	if (!rc)
		rc = store_check_entry(s, STORE_COMMITS_DIR, true);
	return rc;
}

/* A writer says so plainly, before sqlite fails on its -shm file instead. */
static int check_writable(const struct store *s)
{
	if (s->writable && faccessat(s->fd, ".", W_OK, 0) < 0) {
		ovl_error_errno(s->dir, errno, "cannot write the history store");
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}

static bool has_db(const struct store *s)
{
	struct stat st;

	return fstatat(s->fd, STORE_DB_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0;
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

/* ------------------------------------------------------------ creation */

static int write_first_meta(struct store *s, const struct store_new *n)
{
	int rc = db_begin(&s->db);

	if (!rc)
		rc = schema_create(&s->db);
	if (!rc)
		rc = store_set_meta(s, "base", n->base);
	if (!rc)
		rc = store_set_meta(s, "base_format", n->base_format);
	if (!rc)
		rc = store_set_meta(s, "overlay", n->overlay);
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
static int make_db_file(struct store *s, const struct store_new *n)
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
		rc = write_first_meta(s, n);
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

/* commits/ beside, all synced: the directory itself was judged ours. */
static int make_commits_dir(struct store *s)
{
	if (mkdirat(s->fd, STORE_COMMITS_DIR, 0700) < 0 && errno != EEXIST) {
		char *shown = path_join(s->dir, STORE_COMMITS_DIR);
		ovl_error_errno(shown, errno, "cannot create history store");
		free(shown);
		return OVL_EXIT_FAILURE;
	}
	if (fsync(s->fd) < 0) {
		ovl_error_errno(s->dir, errno, "cannot sync to disk");
		return OVL_EXIT_FAILURE;
	}
	return fsync_parent_dir(s->dir);
}

/* Locked: someone else may have made it while we waited. */
static int create_db(struct store *s, const struct store_new *n)
{
	if (has_db(s))
		return OVL_EXIT_OK;
	if (tmp_remove_all_in(s->root) < 0)
		return OVL_EXIT_FAILURE;
	return make_db_file(s, n);
}

/* -------------------------------------------------------------- locks */

/* The overlay's lock (from meta), then the store's, both waiting. */
static int lock_for_writing(struct store *s, const struct store_op *op)
{
	int rc = OVL_EXIT_OK;

	if (op->lock_overlay && s->overlay_lock < 0)
		rc = ovl_lock_overlay(s->overlay, &s->overlay_lock);
	if (!rc)
		rc = ovl_lock_fd(s->lock_fd, LOCK_EX, s->dir, OVL_LOCK_WAIT_MS);
	return rc;
}

/* Readers never wait: a store held by another run is read as it was last
 * committed (sqlite's WAL readers see the last committed transaction). */
static bool held_by_another(struct store *s)
{
	if (flock(s->lock_fd, LOCK_SH | LOCK_NB) == 0)
		return false;
	s->in_progress = true;
	fprintf(stderr, "%s: note: %s: another ovl operation is in progress; "
		"showing the last committed state\n", ovl_progname(), ovl_quote(s->dir));
	return true;
}

/* ----------------------------------------------------------- recovery */

/* Locked for writing: run what the journal holds, remove temporary files. */
static int recover(struct store *s, const struct store_op *op)
{
	bool pending = !journal_is_empty(s);
	bool did_work = false;
	int rc;

	if (!pending)
		return store_remove_temps(s);
	if (op->before_recovery)
		op->before_recovery(op->arg);
	rc = store_recover(s, &did_work);
	s->recovered = did_work;
	return rc;
}

/* A reader that found work a crashed run left: as a writer, once. */
static int read_after_recovery(struct store *s, const struct store_op *op)
{
	int rc;

	flock(s->lock_fd, LOCK_UN);
	s->writable = true;
	rc = lock_for_writing(s, op);
	if (!rc)
		rc = store_load_meta(s);
	if (!rc)
		rc = recover(s, op);
	s->writable = false;
	return rc;
}

static int finish_read(struct store *s, const struct store_op *op)
{
	int rc;

	if (held_by_another(s))
		return op->check ? op->check(s, op->arg) : OVL_EXIT_OK;
	rc = op->check ? op->check(s, op->arg) : OVL_EXIT_OK;
	if (!rc && !journal_is_empty(s))
		return read_after_recovery(s, op);
	/* Read unlocked from here, as before: a long verify must not keep a
	 * commit from cron waiting. */
	flock(s->lock_fd, LOCK_UN);
	return rc;
}

static int finish_write(struct store *s, const struct store_op *op)
{
	int rc = lock_for_writing(s, op);

	/* Meta again: the run we waited for may have changed it. */
	if (!rc)
		rc = store_load_meta(s);
	if (!rc && op->check)
		rc = op->check(s, op->arg);
	if (!rc && op->mode == STORE_WRITE)
		rc = recover(s, op);
	return rc;
}

/* ---------------------------------------------------------------- open */

/* The directory judged and, when creating, made with its database. */
static int open_or_create(struct store *s, const struct store_op *op, bool *missing)
{
	bool create = op->create && op->mode == STORE_WRITE;
	int rc = open_dir(s, create, missing);

	if (!rc && !*missing)
		rc = judge_dir(s);
	if (!rc && !*missing && create && !has_db(s)) {
		rc = make_commits_dir(s);
		if (!rc)
			rc = ovl_lock_fd(s->lock_fd, LOCK_EX, s->dir, OVL_LOCK_WAIT_MS);
		if (!rc)
			rc = create_db(s, op->create);
	}
	if (!rc && !*missing && !has_db(s))
		*missing = true;
	return rc;
}

int store_open_op(struct store *s, const char *dir, const struct store_op *op)
{
	bool missing;
	int rc;

	store_init(s, dir);
	s->writable = op->mode == STORE_WRITE;
	rc = open_or_create(s, op, &missing);
	if (!rc && missing) {
		if (op->optional) {
			store_close(s);
			return OVL_EXIT_OK;
		}
		ovl_error(dir, "has no history (no %s)", STORE_DB_NAME);
		return OVL_EXIT_FAILURE;
	}
	if (!rc)
		rc = judge_files(s);
	if (!rc)
		rc = check_writable(s);
	if (!rc)
		rc = open_db(s);
	if (!rc)
		rc = store_load_meta(s);
	if (rc)
		return rc;
	return op->mode == STORE_READ ? finish_read(s, op) : finish_write(s, op);
}
