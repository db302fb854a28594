#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "strbuf.h"

struct span {
	uint64_t start, end;
};

struct spans {
	struct span *v;
	size_t n, cap;
};

static void spans_append(struct spans *s, uint64_t start, uint64_t end)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = (struct span){ start, end };
}

/* Append to spans kept sorted and disjoint: START must not be below the
 * last span's start.  Touching or overlapping spans merge. */
static void spans_push(struct spans *s, uint64_t start, uint64_t end)
{
	if (start >= end)
		return;
	if (s->n && s->v[s->n - 1].end >= start) {
		if (end > s->v[s->n - 1].end)
			s->v[s->n - 1].end = end;
		return;
	}
	spans_append(s, start, end);
}

static int by_start(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

bool lineage_has_state(const struct lineage *l, int64_t seq)
{
	if (seq == l->oldest)
		return true;
	for (size_t i = 0; i < l->n; i++)
		if (l->c[i].seq == seq)
			return true;
	return false;
}

uint64_t lineage_size_of(const struct lineage *l, int64_t seq)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->c[i].seq == seq)
			return l->c[i].size_after;
	return l->pristine_size;
}

/* Union of what the commits in (lo, hi] wrote, below LIMIT. */
static void changed_between(const struct lineage *l, int64_t lo, int64_t hi,
			    uint64_t limit, struct spans *out)
{
	struct spans all = { 0 };

	for (size_t i = 0; i < l->n; i++) {
		const struct commit_map *c = &l->c[i];
		if (c->seq <= lo || c->seq > hi)
			continue;
		for (size_t j = 0; j < c->n; j++) {
			uint64_t end = c->v[j].start + c->v[j].length;
			if (c->v[j].start < limit)   /* unsorted yet: no merging */
				spans_append(&all, c->v[j].start, end < limit ? end : limit);
		}
	}
	if (all.n)
		qsort(all.v, all.n, sizeof(*all.v), by_start);
	for (size_t i = 0; i < all.n; i++)
		spans_push(out, all.v[i].start, all.v[i].end);
	free(all.v);
}

static void plan_push(struct plan *p, struct piece piece)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n++] = piece;
	p->bytes += piece.length;
	if (piece.src == FROM_PRISTINE)
		p->needs_pristine = true;
}

/* [start, end) of span r is covered by extent e of commit c. */
static void take_from(struct plan *p, const struct commit_map *c, const struct extent *e,
		      uint64_t start, uint64_t end)
{
	struct piece piece = { start, end - start, FROM_ZERO, c->seq, 0 };

	if (!e->zero) {
		if (e->offset < 0)
			p->needs_replay = true;
		piece.src = FROM_ARCHIVE;
		piece.offset = (uint64_t)e->offset + (start - e->start);
	}
	plan_push(p, piece);
}

/* Split one remaining span by commit c's extents: covered parts go to the
 * plan, the rest stays remaining. *j: first extent that may overlap. */
static void split_span(struct plan *p, const struct commit_map *c, size_t *j,
		       struct span r, struct spans *left)
{
	uint64_t cur = r.start;

	while (*j < c->n && c->v[*j].start + c->v[*j].length <= cur)
		(*j)++;
	for (size_t k = *j; cur < r.end; k++) {
		if (k >= c->n || c->v[k].start >= r.end) {
			spans_push(left, cur, r.end);
			return;
		}
		const struct extent *e = &c->v[k];
		uint64_t e_end = e->start + e->length;
		if (e->start > cur) {
			spans_push(left, cur, e->start);
			cur = e->start;
		}
		uint64_t seg_end = e_end < r.end ? e_end : r.end;
		take_from(p, c, e, cur, seg_end);
		cur = seg_end;
	}
}

static void assign_commit(struct plan *p, const struct commit_map *c, struct spans *remaining)
{
	struct spans left = { 0 };
	size_t j = 0;

	for (size_t i = 0; i < remaining->n; i++)
		split_span(p, c, &j, remaining->v[i], &left);
	free(remaining->v);
	*remaining = left;
}

/* What no kept commit <= target wrote: the pristine copy, or zeros past
 * its end. */
static void assign_rest(struct plan *p, const struct lineage *l, const struct spans *rest)
{
	for (size_t i = 0; i < rest->n; i++) {
		struct span r = rest->v[i];
		uint64_t split = r.end < l->pristine_size ? r.end : l->pristine_size;
		if (r.start < split)
			plan_push(p, (struct piece){ r.start, split - r.start, FROM_PRISTINE, 0, 0 });
		if (split < r.end) {
			uint64_t from = split > r.start ? split : r.start;
			plan_push(p, (struct piece){ from, r.end - from, FROM_ZERO, 0, 0 });
		}
	}
}

static int by_piece_start(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

void plan_move(const struct lineage *l, int64_t head, int64_t target, struct plan *p)
{
	struct spans remaining = { 0 };
	int64_t lo = head < target ? head : target;
	int64_t hi = head < target ? target : head;

	memset(p, 0, sizeof(*p));
	p->from_size = lineage_size_of(l, head);
	p->target_size = lineage_size_of(l, target);
	changed_between(l, lo, hi, p->target_size, &remaining);
	for (size_t i = l->n; i-- > 0 && remaining.n;)
		if (l->c[i].seq <= target)
			assign_commit(p, &l->c[i], &remaining);
	assign_rest(p, l, &remaining);
	free(remaining.v);
	if (p->n)
		qsort(p->v, p->n, sizeof(*p->v), by_piece_start);
}

const char *plan_validate(const struct plan *p)
{
	uint64_t end = 0;

	if (p->target_size > INT64_MAX || p->from_size > INT64_MAX)
		return "a size out of range";
	for (size_t i = 0; i < p->n; i++) {
		const struct piece *pc = &p->v[i];
		if (pc->length == 0)
			return "a piece of length zero";
		if (pc->length > p->target_size || pc->start > p->target_size - pc->length)
			return "a piece outside the image";
		if (pc->start < end)
			return "pieces out of order or overlapping";
		/* Compressed pieces have no offset; replay does not read any. */
		if (pc->src == FROM_ARCHIVE && !p->needs_replay &&
		    (pc->offset > INT64_MAX || pc->length > INT64_MAX - pc->offset))
			return "an archive offset out of range";
		end = pc->start + pc->length;
	}
	return NULL;
}

void plan_free(struct plan *p)
{
	free(p->v);
	memset(p, 0, sizeof(*p));
}

void lineage_free(struct lineage *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->c[i].v);
	free(l->c);
	memset(l, 0, sizeof(*l));
}
