#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "lineage.h"
#include "report.h"
#include "strbuf.h"

static int load_commits(struct store *s, struct lineage *l)
{
	sqlite3_stmt *st = db_prepare(&s->db, "SELECT seq, size_after FROM commits "
				      "WHERE pending = 0 AND abandoned = 0 AND seq > ? ORDER BY seq");
	size_t cap = 0;
	int rc;

	if (!st || db_bind(&s->db, st, "i", s->oldest))
		return OVL_EXIT_FAILURE;
	while ((rc = db_step(&s->db, st)) == SQLITE_ROW) {
		if (l->n == cap) {
			cap = cap ? 2 * cap : 64;
			l->c = xrealloc(l->c, cap * sizeof(*l->c));
		}
		l->c[l->n++] = (struct commit_map){ sqlite3_column_int64(st, 0),
			(uint64_t)sqlite3_column_int64(st, 1), NULL, 0 };
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
}

static struct commit_map *find_commit(struct lineage *l, int64_t seq, size_t *hint)
{
	while (*hint < l->n && l->c[*hint].seq < seq)
		(*hint)++;
	return *hint < l->n && l->c[*hint].seq == seq ? &l->c[*hint] : NULL;
}

static int load_extents(struct store *s, struct lineage *l)
{
	sqlite3_stmt *st = db_prepare(&s->db, "SELECT seq, map FROM extent_maps "
				      "WHERE seq > ? ORDER BY seq");
	size_t hint = 0;
	int rc;

	if (!st || db_bind(&s->db, st, "i", s->oldest))
		return OVL_EXIT_FAILURE;
	while ((rc = db_step(&s->db, st)) == SQLITE_ROW) {
		/* Maps of abandoned commits are not needed. */
		struct commit_map *c = find_commit(l, sqlite3_column_int64(st, 0), &hint);
		if (c && extents_unpack(sqlite3_column_blob(st, 1),
					(size_t)sqlite3_column_bytes(st, 1), &c->v, &c->n) < 0) {
			ovl_error(s->db.path, "extent map of commit %lld is damaged",
				  (long long)c->seq);
			rc = SQLITE_CORRUPT;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
}

int lineage_load(struct store *s, struct lineage *l)
{
	char *size = NULL;
	int rc;

	memset(l, 0, sizeof(*l));
	l->oldest = s->oldest;
	rc = db_query_text(&s->db, &size, "SELECT value FROM meta WHERE key = 'pristine_size'", NULL);
	l->pristine_size = size ? strtoull(size, NULL, 10) : 0;
	free(size);
	if (!rc)
		rc = load_commits(s, l);
	if (!rc)
		rc = load_extents(s, l);
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
