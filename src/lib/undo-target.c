#include "config.h"

#include <inttypes.h>
#include <stdlib.h>

#include "exitcodes.h"
#include "report.h"
#include "strbuf.h"
#include "timefmt.h"
#include "undo-target.h"

static int no_such(struct store *s, int64_t seq)
{
	int64_t abandoned = 0, exists = 0;

	db_query_int(&s->db, &exists, 0, "SELECT count(*) FROM commits WHERE seq = ? AND pending = 0",
		     "i", seq);
	db_query_int(&s->db, &abandoned, 0, "SELECT abandoned FROM commits WHERE seq = ?", "i", seq);
	if (exists && abandoned)
		ovl_error(s->base, "commit %" PRId64 " was abandoned (undone, then a new "
			  "commit was made); it cannot be brought back", seq);
	else if (seq < s->oldest)
		ovl_error(s->base, "state %" PRId64 " was pruned; the oldest state kept is %" PRId64,
			  seq, s->oldest);
	else
		ovl_error(s->base, "no commit %" PRId64 " in this history", seq);
	return OVL_EXIT_FAILURE;
}

/* The position of HEAD in the list of states [oldest, c1, c2, ...]. */
static long state_index(const struct lineage *l, int64_t seq)
{
	if (seq == l->oldest)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		if (l->c[i].seq == seq)
			return (long)i + 1;
	return -1;
}

static int by_steps(struct store *s, const struct lineage *l, int64_t steps, int64_t *out)
{
	long at = state_index(l, s->head);

	if (at < 0) {
		ovl_error(s->base, "head state %" PRId64 " is not in the history", s->head);
		return OVL_EXIT_FAILURE;
	}
	if (steps > at) {
		ovl_error(s->base, "cannot go %" PRId64 " steps back: only %ld kept before "
			  "state %" PRId64, steps, at, s->head);
		return OVL_EXIT_FAILURE;
	}
	*out = at - steps == 0 ? l->oldest : l->c[at - steps - 1].seq;
	return OVL_EXIT_OK;
}

static int by_tag(struct store *s, const char *tag, int64_t *out)
{
	if (db_query_int(&s->db, out, -1, "SELECT seq FROM commits WHERE tag = ? AND pending = 0",
			 "s", tag))
		return OVL_EXIT_FAILURE;
	if (*out < 0) {
		ovl_error(s->base, "no commit is tagged %s", ovl_quote(tag));
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}

static int by_time(struct store *s, int64_t time_us, int64_t *out)
{
	char when[40];

	if (db_query_int(&s->db, out, -1, "SELECT max(seq) FROM commits WHERE pending = 0 "
			 "AND abandoned = 0 AND seq > ? AND time_us <= ?", "ii", s->oldest, time_us))
		return OVL_EXIT_FAILURE;
	if (*out < 0) {
		ovl_error(s->base, "no kept commit was made at or before %s",
			  format_time_local(time_us, when, sizeof(when)));
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}

int select_target(struct store *s, const struct lineage *l, const struct undo_opts *o,
		  int64_t *target)
{
	int rc;

	switch (o->select) {
	case SELECT_STEPS:
		return by_steps(s, l, o->steps, target);
	case SELECT_TAG:
		rc = by_tag(s, o->tag, target);
		break;
	case SELECT_TIME:
		rc = by_time(s, o->time_us, target);
		break;
	default:
		*target = o->to;
		rc = OVL_EXIT_OK;
	}
	if (!rc && !lineage_has_state(l, *target))
		rc = no_such(s, *target);
	return rc;
}
