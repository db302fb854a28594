#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "exitcodes.h"
#include "report.h"
#include "strbuf.h"

/* sqlite's message, with the system's cause where there is one
 * ("unable to open database file: Read-only file system"). */
static void report_db(struct db *db, const char *what)
{
	int sys = db->h ? sqlite3_system_errno(db->h) : 0;

	if (sys)
		ovl_error(db->path, "database error in %s: %s: %s", what,
			  sqlite3_errmsg(db->h), strerror(sys));
	else
		ovl_error(db->path, "database error in %s: %s", what,
			  db->h ? sqlite3_errmsg(db->h) : "cannot open");
}

int db_fail(struct db *db, const char *what)
{
	report_db(db, what);
	return OVL_EXIT_FAILURE;
}

/*
 * A store's files are opened as /proc/self/fd/N/NAME, N its directory's
 * descriptor (see store.h), so that a store renamed away and replaced by a
 * symlink mid-run is never followed.  sqlite's unix VFS would resolve the
 * magic link back into the store's path (and with NOFOLLOW refuse it):
 * this VFS is the unix one with such names taken verbatim.  The -wal and
 * -shm names derive from it, so they go through the descriptor too.
 */
#define FD_PREFIX "/proc/self/fd/"
static sqlite3_vfs fd_vfs;
static sqlite3_vfs *unix_vfs;
static pthread_once_t fd_vfs_once = PTHREAD_ONCE_INIT;

static int fd_full_pathname(sqlite3_vfs *vfs, const char *path, int n, char *out)
{
	(void)vfs;
	if (strncmp(path, FD_PREFIX, strlen(FD_PREFIX)) != 0)
		return unix_vfs->xFullPathname(unix_vfs, path, n, out);
	if (strlen(path) >= (size_t)n)
		return SQLITE_CANTOPEN;
	strcpy(out, path);
	return SQLITE_OK;
}

static void register_fd_vfs(void)
{
	unix_vfs = sqlite3_vfs_find(NULL);
	if (!unix_vfs)
		return;
	fd_vfs = *unix_vfs;
	fd_vfs.zName = "ovl-fd";
	fd_vfs.xFullPathname = fd_full_pathname;
	if (sqlite3_vfs_register(&fd_vfs, 0) != SQLITE_OK)
		unix_vfs = NULL;
}

/* The VFS name to open with (NULL: sqlite's default). */
static const char *vfs_name(void)
{
	pthread_once(&fd_vfs_once, register_fd_vfs);
	return unix_vfs ? fd_vfs.zName : NULL;
}

static int open_flags(bool create, bool read_only)
{
	int flags = read_only ? SQLITE_OPEN_READONLY
			      : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
	return flags | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_FULLMUTEX;
}

int db_open_quiet(struct db *db, const char *path, bool read_only)
{
	memset(db, 0, sizeof(*db));
	if (sqlite3_open_v2(path, &db->h, open_flags(false, read_only), vfs_name()) == SQLITE_OK) {
		db->path = xstrdup(path);
		sqlite3_extended_result_codes(db->h, 1);
		sqlite3_busy_timeout(db->h, 5000);
		return OVL_EXIT_OK;
	}
	sqlite3_close_v2(db->h);
	db->h = NULL;
	return OVL_EXIT_FAILURE;
}

int db_open(struct db *db, const char *path, bool create, bool read_only)
{
	int flags = open_flags(create, read_only);

	db->path = xstrdup(path);
	if (sqlite3_open_v2(path, &db->h, flags, vfs_name()) != SQLITE_OK) {
		int rc = db_fail(db, "open");
		db_close(db);
		return rc;
	}
	sqlite3_extended_result_codes(db->h, 1);
	/* Another ovl process holds the store lock while it writes, so a
	 * short wait covers only readers' checkpoints. */
	sqlite3_busy_timeout(db->h, 5000);
	return OVL_EXIT_OK;
}

void db_close(struct db *db)
{
	if (db->h)
		sqlite3_close_v2(db->h);
	db->h = NULL;
	free(db->path);
	db->path = NULL;
}

int db_exec(struct db *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db->h, sql, NULL, NULL, &err) != SQLITE_OK) {
		char what[80];
		snprintf(what, sizeof(what), "%.60s", sql);
		sqlite3_free(err);
		return db_fail(db, what);
	}
	return OVL_EXIT_OK;
}

sqlite3_stmt *db_prepare(struct db *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK) {
		char what[80];
		snprintf(what, sizeof(what), "%.60s", sql);
		db_fail(db, what);
		return NULL;
	}
	return st;
}

static int vbind(struct db *db, sqlite3_stmt *st, const char *fmt, va_list ap)
{
	int rc = SQLITE_OK;

	for (int i = 1; fmt && *fmt && rc == SQLITE_OK; fmt++, i++) {
		const char *s;
		switch (*fmt) {
		case 'i':
			rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
			break;
		case 's':
			s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT)
			       : sqlite3_bind_null(st, i);
			break;
		default:
			rc = sqlite3_bind_null(st, i);
		}
	}
	if (rc != SQLITE_OK)
		return db_fail(db, sqlite3_sql(st));
	return OVL_EXIT_OK;
}

int db_bind(struct db *db, sqlite3_stmt *st, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vbind(db, st, fmt, ap);
	va_end(ap);
	return rc;
}

int db_step(struct db *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	db_fail(db, sqlite3_sql(st));
	return -1;
}

/* Prepare and bind; NULL after reporting. */
static sqlite3_stmt *vprepare(struct db *db, const char *sql, const char *fmt, va_list ap)
{
	sqlite3_stmt *st = db_prepare(db, sql);

	if (st && vbind(db, st, fmt, ap) != OVL_EXIT_OK) {
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

int db_run(struct db *db, const char *sql, const char *fmt, ...)
{
	va_list ap;
	sqlite3_stmt *st;
	int rc;

	va_start(ap, fmt);
	st = vprepare(db, sql, fmt, ap);
	va_end(ap);
	if (!st)
		return OVL_EXIT_FAILURE;
	while ((rc = db_step(db, st)) == SQLITE_ROW)
		;
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
}

/* Prepare, bind and step once: the statement on its first row (or done),
 * *rc as db_step gives it; NULL when it could not even be prepared. */
static sqlite3_stmt *first_row(struct db *db, const char *sql, const char *fmt, va_list ap,
			       int *rc)
{
	sqlite3_stmt *st = vprepare(db, sql, fmt, ap);

	*rc = st ? db_step(db, st) : -1;
	return st;
}

int db_query_int(struct db *db, int64_t *out, int64_t dflt, const char *sql,
		 const char *fmt, ...)
{
	va_list ap;
	sqlite3_stmt *st;
	int rc;

	va_start(ap, fmt);
	st = first_row(db, sql, fmt, ap, &rc);
	va_end(ap);
	*out = (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		? sqlite3_column_int64(st, 0) : dflt;
	sqlite3_finalize(st);
	return rc < 0 ? OVL_EXIT_FAILURE : OVL_EXIT_OK;
}

int db_query_text(struct db *db, char **out, const char *sql, const char *fmt, ...)
{
	va_list ap;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	va_start(ap, fmt);
	st = first_row(db, sql, fmt, ap, &rc);
	va_end(ap);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
		*out = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc < 0 ? OVL_EXIT_FAILURE : OVL_EXIT_OK;
}

int db_begin(struct db *db) { return db_exec(db, "BEGIN IMMEDIATE"); }
int db_commit(struct db *db) { return db_exec(db, "COMMIT"); }

int db_finish(struct db *db, int rc)
{
	if (!rc)
		rc = db_commit(db);
	if (rc)
		db_rollback(db);
	return rc;
}

void db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}
