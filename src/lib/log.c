#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "log.h"
#include "report.h"
#include "strbuf.h"

#define ROW_COLUMNS "seq, time_us, message, tag, size, file, digest, size_before, " \
		    "size_after, abandoned"

const char *commit_state(const struct store *s, const struct commit_row *r)
{
	if (r->abandoned)
		return "abandoned";
	return r->seq <= s->head ? "applied" : "undone";
}

static char *text_or_null(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t ? xstrdup((const char *)t) : NULL;
}

static void read_row(sqlite3_stmt *st, struct commit_row *r)
{
	memset(r, 0, sizeof(*r));
	r->seq = sqlite3_column_int64(st, 0);
	r->time_us = sqlite3_column_int64(st, 1);
	r->message = text_or_null(st, 2);
	r->tag = text_or_null(st, 3);
	r->size = (uint64_t)sqlite3_column_int64(st, 4);
	r->file = text_or_null(st, 5);
	r->digest = text_or_null(st, 6);
	r->size_before = (uint64_t)sqlite3_column_int64(st, 7);
	r->size_after = (uint64_t)sqlite3_column_int64(st, 8);
	r->abandoned = sqlite3_column_int(st, 9) != 0;
}

int log_list(struct store *s, struct commit_row **rows, size_t *n)
{
	sqlite3_stmt *st = db_prepare(&s->db, "SELECT " ROW_COLUMNS " FROM commits "
				      "WHERE pending = 0 ORDER BY seq");
	size_t cap = 0;
	int rc;

	*rows = NULL;
	*n = 0;
	if (!st)
		return OVL_EXIT_FAILURE;
	while ((rc = db_step(&s->db, st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 256;
			*rows = xrealloc(*rows, cap * sizeof(**rows));
		}
		read_row(st, &(*rows)[(*n)++]);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
}

int log_get(struct store *s, int64_t seq, struct commit_row *row)
{
	sqlite3_stmt *st = db_prepare(&s->db, "SELECT " ROW_COLUMNS " FROM commits "
				      "WHERE seq = ? AND pending = 0");
	int rc = OVL_EXIT_FAILURE;

	memset(row, 0, sizeof(*row));
	if (st && db_bind(&s->db, st, "i", seq) == OVL_EXIT_OK) {
		int step = db_step(&s->db, st);
		if (step == SQLITE_ROW) {
			read_row(st, row);
			rc = OVL_EXIT_OK;
		} else if (step == SQLITE_DONE)
			ovl_error(s->base, "no commit %" PRId64 " in this history%s", seq,
				  seq > 0 && seq <= s->oldest ? " (pruned)" : "");
	}
	sqlite3_finalize(st);
	if (!rc)
		rc = db_query_int(&s->db, &row->n_extents, 0,
				  "SELECT count FROM extent_maps WHERE seq = ?", "i", seq);
	return rc;
}

void commit_row_clear(struct commit_row *r)
{
	free(r->message);
	free(r->tag);
	free(r->file);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

void commit_rows_free(struct commit_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		commit_row_clear(&rows[i]);
	free(rows);
}
