#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "journal.h"
#include "strbuf.h"

int journal_add(struct store *s, const char *op, int64_t seq, const char *step,
		const char *args, int64_t *id)
{
	int rc = db_run(&s->db, "INSERT INTO journal(op, seq, step, started_us, args) "
			"VALUES (?, ?, ?, ?, ?)", "sisis",
			op, seq, step, store_now_us(), args ? args : "{}");

	*id = sqlite3_last_insert_rowid(s->db.h);
	return rc;
}

void journal_crash_point(const char *op, const char *step)
{
	const char *want = getenv("OVL_TEST_CRASH");
	size_t n = strlen(op);

	if (want && strncmp(want, op, n) == 0 && want[n] == ':' && strcmp(want + n + 1, step) == 0)
		raise(SIGKILL);
}

int journal_step(struct store *s, int64_t id, const char *step)
{
	return db_run(&s->db, "UPDATE journal SET step = ? WHERE id = ?", "si", step, id);
}

int journal_remove(struct store *s, int64_t id)
{
	return db_run(&s->db, "DELETE FROM journal WHERE id = ?", "i", id);
}

static char *column_text(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t ? xstrdup((const char *)t) : NULL;
}

static void read_entry(sqlite3_stmt *st, struct journal_entry *e)
{
	e->id = sqlite3_column_int64(st, 0);
	e->op = column_text(st, 1);
	e->seq = sqlite3_column_int64(st, 2);
	e->step = column_text(st, 3);
	e->args = column_text(st, 4);
}

int journal_oldest(struct store *s, struct journal_entry *e, bool *found)
{
	sqlite3_stmt *st = db_prepare(&s->db, "SELECT id, op, seq, step, args "
				      "FROM journal ORDER BY id LIMIT 1");
	int rc;

	memset(e, 0, sizeof(*e));
	*found = false;
	if (!st)
		return OVL_EXIT_FAILURE;
	rc = db_step(&s->db, st);
	if (rc == SQLITE_ROW) {
		read_entry(st, e);
		*found = e->op && e->step;
	}
	sqlite3_finalize(st);
	return rc < 0 ? OVL_EXIT_FAILURE : OVL_EXIT_OK;
}

int journal_each(struct store *s, void (*fn)(struct store *, const struct journal_entry *, void *),
		 void *arg)
{
	sqlite3_stmt *st = db_prepare(&s->db, "SELECT id, op, seq, step, args "
				      "FROM journal ORDER BY id");
	struct journal_entry e;
	int rc;

	if (!st)
		return OVL_EXIT_FAILURE;
	while ((rc = db_step(&s->db, st)) == SQLITE_ROW) {
		memset(&e, 0, sizeof(e));
		read_entry(st, &e);
		fn(s, &e, arg);
		journal_entry_free(&e);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
}

void journal_entry_free(struct journal_entry *e)
{
	free(e->op);
	free(e->step);
	free(e->args);
	memset(e, 0, sizeof(*e));
}

bool journal_is_empty(struct store *s)
{
	int64_t n = 1;

	db_query_int(&s->db, &n, 1, "SELECT count(*) FROM journal", NULL);
	return n == 0;
}
