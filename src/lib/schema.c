#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "report.h"
#include "schema.h"

/*
 * Version 1.
 *
 * meta      key/value facts about the store:
 *   base          absolute path of the base image the store belongs to
 *   base_format   its format, raw or qcow2
 *   overlay       absolute path of the one overlay committed into it
 *   created_us    when the store was made (microseconds since the epoch)
 *   pristine      file name (in the store) of the generation-0 copy
 *   pristine_digest  its digest (see digest.h)
 *   pristine_size    its virtual size in bytes
 *   head          the state the base is in now (0: pristine content)
 *   oldest        the oldest state that can still be rebuilt (grows
 *                 when prune folds commits into the pristine copy)
 *
 * commits   one row per committed overlay.  Rows with pending = 1 belong
 *           to a commit still in progress (see journal) and are not
 *           history yet.  seq is AUTOINCREMENT, so the number of a pruned
 *           or abandoned commit never comes back; a rolled-back pending
 *           commit gives its number back (history_rollback).
 * extent_maps  where each archived overlay holds data, so undo knows what
 *           a commit changed without opening archives: one packed map per
 *           commit (see extents.h), so a long history loads in one row per
 *           commit rather than one per extent.
 * journal   operations under way: a row is written before an operation's
 *           first step and updated before each later one; the next run
 *           of any tool finishes or rolls back what it finds here.
 */
static const char schema_v1[] =
	"CREATE TABLE meta (\n"
	"  key   TEXT PRIMARY KEY,\n"
	"  value TEXT NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE commits (\n"
	"  seq         INTEGER PRIMARY KEY AUTOINCREMENT, -- N: never reused\n"
	"  time_us     INTEGER NOT NULL,  -- when committed, UTC microseconds\n"
	"  message     TEXT,              -- -m TEXT, or NULL\n"
	"  tag         TEXT UNIQUE,       -- --tag NAME, or NULL\n"
	"  size        INTEGER NOT NULL,  -- bytes allocated in the overlay\n"
	"  file        TEXT NOT NULL,     -- archived overlay, in the store\n"
	"  digest      TEXT,              -- of that file; NULL while pending\n"
	"  size_before INTEGER NOT NULL,  -- base virtual size before ...\n"
	"  size_after  INTEGER NOT NULL,  -- ... and after this commit\n"
	"  abandoned   INTEGER NOT NULL DEFAULT 0, -- undone, then superseded\n"
	"  pending     INTEGER NOT NULL DEFAULT 1  -- 1 until the commit is done\n"
	");\n"
	"CREATE TABLE extent_maps (\n"
	"  seq    INTEGER PRIMARY KEY REFERENCES commits(seq) ON DELETE CASCADE,\n"
	"  count  INTEGER NOT NULL,  -- extents in the map\n"
	"  map    BLOB NOT NULL      -- count records: start, length, offset in\n"
	"                            -- the archive (-1: none), each 64-bit\n"
	"                            -- little-endian, then 1 byte: zero?\n"
	");\n"
	"CREATE TABLE journal (\n"
	"  id         INTEGER PRIMARY KEY,\n"
	"  op         TEXT NOT NULL,     -- commit, undo, prune\n"
	"  seq        INTEGER,           -- commit being made, or target state\n"
	"  step       TEXT NOT NULL,     -- the step started last\n"
	"  started_us INTEGER NOT NULL,\n"
	"  args       TEXT NOT NULL      -- JSON: what finishing it needs\n"
	");\n";

int schema_create(struct db *db)
{
	char pragmas[128];

	snprintf(pragmas, sizeof(pragmas), "PRAGMA application_id = %d; PRAGMA user_version = %d;",
		 SCHEMA_APPLICATION_ID, SCHEMA_VERSION);
	if (db_exec(db, schema_v1) || db_exec(db, pragmas))
		return OVL_EXIT_FAILURE;
	return OVL_EXIT_OK;
}

static int foreign(struct db *db, const char *why)
{
	ovl_error(db->path, "not an ovl history database (%s); left untouched", why);
	return OVL_EXIT_FAILURE;
}

/* Future versions add their upgrade steps here, oldest first. */
static int migrate(struct db *db, int64_t from)
{
	(void)from;
	return foreign(db, "unknown schema version");
}

int schema_quick_check(struct db *db)
{
	char *result = NULL;
	int rc = db_query_text(db, &result, "PRAGMA quick_check", NULL);

	if (rc == OVL_EXIT_OK && (!result || strcmp(result, "ok") != 0)) {
		ovl_error(db->path, "history database is damaged (%s); left untouched",
			  result ? result : "no answer");
		rc = OVL_EXIT_FAILURE;
	}
	free(result);
	return rc;
}

int schema_check(struct db *db, bool writable)
{
	int64_t app = 0, version = 0;

	/* A file that is not sqlite at all fails here. */
	if (db_query_int(db, &app, 0, "PRAGMA application_id", NULL) ||
	    db_query_int(db, &version, 0, "PRAGMA user_version", NULL))
		return OVL_EXIT_FAILURE;
	if (app != SCHEMA_APPLICATION_ID)
		return foreign(db, "wrong application id");
	if (version > SCHEMA_VERSION) {
		ovl_error(db->path, "history database is of a newer ovl (schema %lld); "
			  "left untouched", (long long)version);
		return OVL_EXIT_FAILURE;
	}
	if (version < SCHEMA_VERSION && (!writable || migrate(db, version)))
		return OVL_EXIT_FAILURE;
	return OVL_EXIT_OK;
}
