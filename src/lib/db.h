/*
 * A thin layer over sqlite: bound parameters only, every failure reported
 * with the statement that failed and the database's file name.
 */
#ifndef OVL_DB_H
#define OVL_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

struct db {
	sqlite3 *h;
	char *path;
};

/* Open an existing database (create: make it if missing).  Read-only
 * opens never create anything.  Returns an exit code, reported. */
int db_open(struct db *db, const char *path, bool create, bool read_only);
void db_close(struct db *db);
/* Open an existing database, saying nothing if that fails (the caller
 * has another way). */
int db_open_quiet(struct db *db, const char *path, bool read_only);

/* Run SQL with no parameters and no result rows (may hold several
 * statements).  Returns an exit code, reported. */
int db_exec(struct db *db, const char *sql);

/* Prepare one statement; NULL after reporting. */
sqlite3_stmt *db_prepare(struct db *db, const char *sql);

/*
 * Bind by a format string, one character per parameter:
 *   i  int64_t       s  const char * (NULL binds NULL)      n  NULL
 * Returns an exit code, reported.
 */
int db_bind(struct db *db, sqlite3_stmt *st, const char *fmt, ...);

/* sqlite3_step, reporting errors: SQLITE_ROW, SQLITE_DONE, or -1. */
int db_step(struct db *db, sqlite3_stmt *st);

/* Prepare, bind, step once to completion, finalize. */
int db_run(struct db *db, const char *sql, const char *fmt, ...);

/* One integer from the first row of a query; dflt when there is no row. */
int db_query_int(struct db *db, int64_t *out, int64_t dflt, const char *sql,
		 const char *fmt, ...);
/* One string (malloc'ed, or NULL for SQL NULL / no row). */
int db_query_text(struct db *db, char **out, const char *sql, const char *fmt, ...);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);
/* End the transaction begun by db_begin: COMMIT when RC is 0 (so far so
 * good), else ROLLBACK.  Returns the outcome. */
int db_finish(struct db *db, int rc);

/* Report a failure of stmt text (used by the helpers above). */
int db_fail(struct db *db, const char *what);

#endif
