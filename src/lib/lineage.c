#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "history-check.h"
#include "lineage.h"
#include "log.h"
#include "report.h"
#include "strbuf.h"

/* The kept commits after oldest, from rows already checked; ROW_OF[i]
 * is the row of l->c[i]. */
static void keep_commits(struct lineage *l, const struct commit_row *rows, size_t n,
			 const struct commit_row **row_of)
{
	l->c = xcalloc(n ? n : 1, sizeof(*l->c));
	for (size_t i = 0; i < n; i++)
		if (!rows[i].abandoned && rows[i].seq > l->oldest) {
			row_of[l->n] = &rows[i];
			l->c[l->n++] = (struct commit_map){ rows[i].seq, rows[i].size_after, NULL, 0 };
		}
}

static size_t find_commit(const struct lineage *l, int64_t seq, size_t *hint)
{
	while (*hint < l->n && l->c[*hint].seq < seq)
		(*hint)++;
	return *hint < l->n && l->c[*hint].seq == seq ? *hint : SIZE_MAX;
}

/* Unpack one map row into commit I and check it against its row. */
static void take_map(struct lineage *l, size_t i, const struct commit_row *row,
		     sqlite3_stmt *st, bool *mapped, struct damage *d)
{
	struct commit_map *c = &l->c[i];
	size_t len = (size_t)sqlite3_column_bytes(st, 2);

	mapped[i] = true;
	/* A blob that is not whole records leaves c->v NULL: reported. */
	extents_unpack(sqlite3_column_blob(st, 2), len, &c->v, &c->n);
	commit_map_check(row, sqlite3_column_int64(st, 1), len, c->v, c->n, d);
}

/* The maps of the kept commits (those of abandoned ones are not needed),
 * each checked; a commit with data and no map is damage too. */
static int load_extents(struct store *s, struct lineage *l, const struct commit_row **row_of,
			struct damage *d)
{
	sqlite3_stmt *st = db_prepare(&s->db, "SELECT seq, count, map FROM extent_maps "
				      "WHERE seq > ? ORDER BY seq");
	bool *mapped = xcalloc(l->n ? l->n : 1, sizeof(*mapped));
	size_t hint = 0, i;
	int rc;

	if (!st || db_bind(&s->db, st, "i", s->oldest)) {
		sqlite3_finalize(st);
		free(mapped);
		return OVL_EXIT_FAILURE;
	}
	while ((rc = db_step(&s->db, st)) == SQLITE_ROW && !d->count)
		if ((i = find_commit(l, sqlite3_column_int64(st, 0), &hint)) != SIZE_MAX)
			take_map(l, i, row_of[i], st, mapped, d);
	sqlite3_finalize(st);
	for (i = 0; i < l->n && !d->count; i++)
		if (!mapped[i] && row_of[i]->size)
			d->found(d, l->c[i].seq, "commit has data but no extent map");
	free(mapped);
	return rc == SQLITE_DONE || (rc == SQLITE_ROW && d->count) ? OVL_EXIT_OK
								    : OVL_EXIT_FAILURE;
}

int lineage_load(struct store *s, struct lineage *l)
{
	struct commit_row *rows;
	const struct commit_row **row_of;
	struct history_meta m;
	struct damage d;
	size_t n;
	int rc;

	memset(l, 0, sizeof(*l));
	rc = log_list(s, &rows, &n);   /* the rows, checked */
	if (rc)
		return rc;
	damage_fail_init(&d, s);
	if (history_meta_read(s, &m, &d)) {
		commit_rows_free(rows, n);
		return OVL_EXIT_FAILURE;
	}
	l->oldest = m.oldest;
	l->pristine_size = m.pristine_size;
	row_of = xcalloc(n ? n : 1, sizeof(*row_of));
	keep_commits(l, rows, n, row_of);
	rc = load_extents(s, l, row_of, &d);
	free(row_of);
	commit_rows_free(rows, n);
	if (!rc && d.count)
		rc = OVL_EXIT_FAILURE;
	if (rc)
		lineage_free(l);
	return rc;
}

char *lineage_archive(struct store *s, int64_t seq)
{
	char *file = NULL;
	char *path;

	if (db_query_text(&s->db, &file, "SELECT file FROM commits WHERE seq = ?", "i", seq) || !file)
		return NULL;
	path = store_archive_path(s, seq, file);
	free(file);
	return path;
}
