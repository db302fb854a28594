#include "config.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "history-check.h"
#include "report.h"

/* ------------------------------------------------------------ sinks */

static void fail_found(struct damage *d, int64_t seq, const char *why)
{
	struct store *s = d->arg;

	/* The first problem says enough; the rest would only repeat it. */
	if (d->count++)
		return;
	if (seq > 0)
		ovl_error(s->db.path, "commit %" PRId64 ": %s: damaged history, nothing written",
			  seq, why);
	else
		ovl_error(s->db.path, "%s: damaged history, nothing written", why);
}

void damage_fail_init(struct damage *d, struct store *s)
{
	*d = (struct damage){ fail_found, s, 0 };
}

static void __attribute__((format(printf, 3, 4)))
found(struct damage *d, int64_t seq, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	d->found(d, seq, why);
}

/* ------------------------------------------------------------ meta */

/* A meta value that must be a plain decimal integer >= 0: digits only,
 * no sign, no spaces, no leading zeros, not past INT64_MAX. */
static bool plain_count(const char *text, int64_t *out)
{
	int64_t v = 0;

	if (!text || !*text || (text[0] == '0' && text[1]))
		return false;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9' || v > (INT64_MAX - (*p - '0')) / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	*out = v;
	return true;
}

/* Meta KEY as a plain count into *OUT (0 when it is missing and not
 * REQUIRED); problems go to D. */
static void meta_number(struct store *s, const char *key, bool required, int64_t *out,
			struct damage *d)
{
	char *text = NULL;

	*out = 0;
	if (db_query_text(&s->db, &text, "SELECT value FROM meta WHERE key = ?", "s", key))
		found(d, 0, "meta %s cannot be read", key);
	else if ((text || required) && !plain_count(text, out))
		found(d, 0, "meta %s is not a number of the store's own form", key);
	free(text);
}

int history_meta_read(struct store *s, struct history_meta *m, struct damage *d)
{
	size_t before = d->count;
	int64_t size;

	meta_number(s, "head", true, &m->head, d);
	meta_number(s, "oldest", true, &m->oldest, d);
	meta_number(s, "pristine_size", false, &size, d);
	m->pristine_size = (uint64_t)size;
	if (m->oldest > m->head)
		found(d, 0, "oldest state %" PRId64 " is after head state %" PRId64,
		      m->oldest, m->head);
	return d->count == before ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
}

/* ------------------------------------------------------------ rows */

size_t commit_row_check(const struct history_meta *m, const struct commit_row *r,
			struct damage *d)
{
	size_t before = d->count;

	if (r->damage)
		found(d, r->seq, "%s", r->damage);
	else if (r->size_before > r->size_after)
		found(d, r->seq, "base size after (%" PRIu64 ") is below the size before (%" PRIu64 ")",
		      r->size_after, r->size_before);
	else if (r->size > r->size_after)
		found(d, r->seq, "data size (%" PRIu64 ") is larger than the image (%" PRIu64 ")",
		      r->size, r->size_after);
	if (r->seq <= m->oldest)
		found(d, r->seq, "logged, but not after the oldest state %" PRId64, m->oldest);
	return d->count - before;
}

/* Is SEQ a kept state: oldest, or a commit not abandoned after it? */
static bool is_kept(const struct history_meta *m, const struct commit_row *rows, size_t n,
		    int64_t seq)
{
	if (seq == m->oldest)
		return true;
	for (size_t i = 0; i < n; i++)
		if (rows[i].seq == seq)
			return !rows[i].abandoned && seq > m->oldest;
	return false;
}

size_t history_rows_check(const struct history_meta *m, const struct commit_row *rows,
			  size_t n, struct damage *d)
{
	size_t before = d->count;
	uint64_t size = m->pristine_size;
	int64_t state = m->oldest;

	for (size_t i = 0; i < n; i++) {
		const struct commit_row *r = &rows[i];
		if (i && r->seq <= rows[i - 1].seq)
			found(d, r->seq, "logged out of order (after commit %" PRId64 ")", rows[i - 1].seq);
		if (commit_row_check(m, r, d) || r->abandoned)
			continue;
		/* Kept commits form one line: each was made on the one before. */
		if (r->size_before != size)
			found(d, r->seq, "base size before (%" PRIu64 ") is not the size of state %"
			      PRId64 " (%" PRIu64 ")", r->size_before, state, size);
		size = r->size_after;
		state = r->seq;
	}
	if (m->head >= m->oldest && !is_kept(m, rows, n, m->head))
		found(d, 0, "head state %" PRId64 " is not a kept state", m->head);
	return d->count - before;
}

/* Rows that log_list does not return: a pending flag other than 0 or 1,
 * or a pending commit older than a finished one (only the newest commit
 * can be under way). */
static void pending_check(struct store *s, struct damage *d)
{
	int64_t seq = 0;

	if (db_query_int(&s->db, &seq, 0, "SELECT seq FROM commits WHERE pending NOT IN (0, 1) "
			 "OR typeof(pending) != 'integer' OR (pending = 1 AND seq < "
			 "(SELECT max(seq) FROM commits WHERE pending = 0)) ORDER BY seq LIMIT 1",
			 NULL))
		found(d, 0, "commits cannot be read");
	else if (seq)
		found(d, seq, "marked unfinished, but older than a finished commit");
}

int history_rows_validate(struct store *s, const struct commit_row *rows, size_t n,
			  struct damage *d)
{
	struct history_meta m;
	size_t before = d->count;

	if (history_meta_read(s, &m, d) == OVL_EXIT_OK)
		history_rows_check(&m, rows, n, d);
	pending_check(s, d);
	return d->count == before ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
}

/* A count query with one integer parameter; false when it fails. */
static bool any_row(struct store *s, const char *sql, int64_t seq)
{
	int64_t v = 0;

	return db_query_int(&s->db, &v, 0, sql, "i", seq) == OVL_EXIT_OK && v > 0;
}

/* Is SEQ oldest, or a finished commit after it that is not abandoned? */
static bool kept_state(struct store *s, const struct history_meta *m, int64_t seq)
{
	return seq == m->oldest ||
	       (seq > m->oldest && any_row(s, "SELECT count(*) FROM commits WHERE seq = ? "
					   "AND pending = 0 AND abandoned = 0", seq));
}

int history_head_validate(struct store *s)
{
	struct history_meta m;
	struct damage d;

	damage_fail_init(&d, s);
	if (history_meta_read(s, &m, &d) == OVL_EXIT_OK && !kept_state(s, &m, m.head))
		found(&d, 0, "head state %" PRId64 " is not a kept state", m.head);
	return d.count ? OVL_EXIT_FAILURE : OVL_EXIT_OK;
}

/* ------------------------------------------------------------ maps */

size_t commit_map_check(const struct commit_row *r, int64_t count, size_t len,
			const struct extent *v, size_t n, struct damage *d)
{
	size_t before = d->count, at = 0;
	uint64_t bytes = 0;
	const char *why;

	if (!v) {
		found(d, r->seq, "extent map is truncated (%zu bytes)", len);
		return 1;
	}
	if (count < 0 || (uint64_t)count != n)
		found(d, r->seq, "extent map holds %zu extents, but says %" PRId64, n, count);
	why = extents_validate(v, n, r->size_after, &at);
	if (why) {
		found(d, r->seq, "%s (extent %zu of %zu)", why, at + 1, n);
		return d->count - before;
	}
	/* Valid and inside the image: the sum cannot overflow. */
	for (size_t i = 0; i < n; i++)
		bytes += v[i].length;
	if (bytes != r->size)
		found(d, r->seq, "extent map covers %" PRIu64 " bytes, but the data size is %" PRIu64,
		      bytes, r->size);
	return d->count - before;
}

int commit_map_validate(struct store *s, const struct commit_row *r, struct damage *d)
{
	sqlite3_stmt *st = db_prepare(&s->db, "SELECT count, map FROM extent_maps WHERE seq = ?");
	struct extent *v = NULL;
	size_t n = 0, len, before = d->count;
	int rc = st ? db_bind(&s->db, st, "i", r->seq) : OVL_EXIT_FAILURE;
	int step = rc ? -1 : db_step(&s->db, st);

	if (step == SQLITE_ROW) {
		len = (size_t)sqlite3_column_bytes(st, 1);
		/* A blob that is not whole records leaves v NULL: reported. */
		extents_unpack(sqlite3_column_blob(st, 1), len, &v, &n);
		commit_map_check(r, sqlite3_column_int64(st, 0), len, v, n, d);
	} else if (step == SQLITE_DONE && r->size)
		found(d, r->seq, "commit has data but no extent map");
	else if (step < 0)
		rc = OVL_EXIT_FAILURE;
	sqlite3_finalize(st);
	free(v);
	return rc || d->count != before ? OVL_EXIT_FAILURE : OVL_EXIT_OK;
}

/* ------------------------------------------------------------ journal */

static const char *const ops[][4] = {
	{ "commit", "archive", "commit", "renew" },
	{ "undo", "renew", "write", NULL },
	{ "prune", "fold", "cleanup", NULL },
};

/* The index of E's operation in ops, or -1; *step_ok: a step of it. */
static int known_op(const struct journal_entry *e, bool *step_ok)
{
	*step_ok = false;
	for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++) {
		if (strcmp(e->op, ops[i][0]) != 0)
			continue;
		for (size_t k = 1; k < 4 && ops[i][k]; k++)
			*step_ok |= strcmp(e->step, ops[i][k]) == 0;
		return (int)i;
	}
	return -1;
}

/* An undo's arguments: {"from": head, "method": "extents"|"replay"}. */
static bool undo_args_ok(int64_t head, const char *args)
{
	json_t *o = json_loads(args ? args : "", 0, NULL);
	json_t *from = json_object_get(o, "from");
	const char *m = json_string_value(json_object_get(o, "method"));
	bool good = json_is_integer(from) && json_integer_value(from) == head && m &&
		    (strcmp(m, "extents") == 0 || strcmp(m, "replay") == 0);

	json_decref(o);
	return good;
}

static void op_refs_check(struct store *s, const struct history_meta *m, int op,
			  const struct journal_entry *e, struct damage *d)
{
	if (op == 0 && !any_row(s, "SELECT count(*) FROM commits WHERE seq = ? AND pending = 1 "
				"AND seq = (SELECT max(seq) FROM commits)", e->seq))
		found(d, 0, "journal row %" PRId64 " names commit %" PRId64 ", which is not the one "
		      "under way", e->id, e->seq);
	else if (op == 1 && !kept_state(s, m, e->seq))
		found(d, 0, "journal row %" PRId64 " undoes to state %" PRId64 ", which is not kept",
		      e->id, e->seq);
	else if (op == 1 && !undo_args_ok(m->head, e->args))
		found(d, 0, "journal row %" PRId64 " does not say how to undo from head state %"
		      PRId64, e->id, m->head);
	else if (op == 2 && (e->seq > m->head || !kept_state(s, m, e->seq) ||
			     (strcmp(e->step, "cleanup") == 0 && e->seq != m->oldest)))
		found(d, 0, "journal row %" PRId64 " prunes to state %" PRId64 ", which is not a "
		      "kept state between oldest and head", e->id, e->seq);
}

int journal_entry_validate(struct store *s, const struct journal_entry *e, struct damage *d)
{
	size_t before = d->count;
	struct history_meta m;
	bool step_ok = false;
	int op = e->op && e->step ? known_op(e, &step_ok) : -1;

	/* What the references are checked against must be sound first. */
	if (history_meta_read(s, &m, d))
		return OVL_EXIT_FAILURE;
	if (!e->op || !e->step)
		found(d, 0, "journal row %" PRId64 " is incomplete", e->id);
	else if (op < 0)
		found(d, 0, "journal row %" PRId64 " holds an operation this ovl does not know (%s)",
		      e->id, ovl_quote(e->op));
	else if (!step_ok)
		found(d, 0, "journal row %" PRId64 " holds an unknown %s step (%s)", e->id, e->op,
		      ovl_quote(e->step));
	else
		op_refs_check(s, &m, op, e, d);
	return d->count == before ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
}
