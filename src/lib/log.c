#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "history-check.h"
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

/* An integer column as ovl writes it: of integer type, >= MIN. */
static bool column_int(sqlite3_stmt *st, int col, int64_t min, int64_t *out)
{
	*out = sqlite3_column_int64(st, col);
	return sqlite3_column_type(st, col) == SQLITE_INTEGER && *out >= min;
}

/* The numbers of a row; r->damage says which one is not a number ovl
 * writes (the row is then not to be used). */
static void read_numbers(sqlite3_stmt *st, struct commit_row *r)
{
	int64_t v[5] = { 0 };

	if (!column_int(st, 1, INT64_MIN, &v[0]))
		r->damage = "commit time is not a number";
	if (!column_int(st, 4, 0, &v[1]) || !column_int(st, 7, 0, &v[2]) ||
	    !column_int(st, 8, 0, &v[3]))
		r->damage = "a size is not a number of bytes";
	if (!column_int(st, 9, 0, &v[4]) || v[4] > 1)
		r->damage = "state is neither kept nor abandoned";
	r->time_us = v[0];
	r->size = (uint64_t)v[1];
	r->size_before = (uint64_t)v[2];
	r->size_after = (uint64_t)v[3];
	r->abandoned = v[4] != 0;
}

static void read_row(sqlite3_stmt *st, struct commit_row *r)
{
	memset(r, 0, sizeof(*r));
	r->seq = sqlite3_column_int64(st, 0);
	r->message = text_or_null(st, 2);
	r->tag = text_or_null(st, 3);
	r->file = text_or_null(st, 5);
	r->digest = text_or_null(st, 6);
	read_numbers(st, r);
}

int log_list_raw(struct store *s, struct commit_row **rows, size_t *n)
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

int log_list(struct store *s, struct commit_row **rows, size_t *n)
{
	struct damage d;
	int rc = log_list_raw(s, rows, n);

	damage_fail_init(&d, s);
	if (!rc)
		rc = history_rows_validate(s, *rows, *n, &d);
	if (rc) {
		commit_rows_free(*rows, *n);
		*rows = NULL;
		*n = 0;
	}
	return rc;
}

static int read_one(struct store *s, int64_t seq, struct commit_row *row)
{
	sqlite3_stmt *st = db_prepare(&s->db, "SELECT " ROW_COLUMNS " FROM commits "
				      "WHERE seq = ? AND pending = 0");
	int rc = OVL_EXIT_FAILURE;

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
	return rc;
}

int log_get(struct store *s, int64_t seq, struct commit_row *row)
{
	struct history_meta m;
	struct damage d;
	int rc;

	memset(row, 0, sizeof(*row));
	damage_fail_init(&d, s);
	rc = history_meta_read(s, &m, &d);
	if (!rc)
		rc = read_one(s, seq, row);
	if (!rc && !commit_row_check(&m, row, &d))
		rc = commit_map_validate(s, row, &d);
	if (!rc && d.count)
		rc = OVL_EXIT_FAILURE;
	if (!rc)
		rc = db_query_int(&s->db, &row->n_extents, 0,
				  "SELECT count FROM extent_maps WHERE seq = ?", "i", seq);
	if (rc)
		commit_row_clear(row);
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
