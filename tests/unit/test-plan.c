/*
 * Tests of plan.c: the undo/redo planner, checked against a model.
 *
 * The model knows nothing of spans or pieces: a state is one label per
 * block ("unit") of the base, saying where that block's content comes
 * from -- the pristine copy's block b, zeros, or the archive of commit k
 * at host offset o.  State N is the pristine copy's labels (zeros past
 * its end) with every kept commit <= N applied in order, sizes following
 * each commit's size_after.  A plan is right when the head's labels, with
 * the plan's pieces applied and the size set to the target's, are the
 * target state's labels, block for block; and cheap when it only touches
 * blocks that the commits between head and target wrote.
 *
 * Random histories come from fixed seeds, so a failure is reproducible:
 * its message names the seed, the head and the target.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "tap.h"

#define MAX_UNITS 96            /* largest virtual size, in units */
#define MAX_COMMITS 10
#define HISTORIES 400

/* ------------------------------------------------------------ random */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64: tiny, good enough, same on every platform */
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static uint64_t rnd_in(uint64_t lo, uint64_t hi)
{
	return lo + rnd() % (hi - lo + 1);
}

/* True with probability PCT percent. */
static bool chance(unsigned pct)
{
	return rnd() % 100 < pct;
}

/* ------------------------------------------------------------ model */

enum label_kind { L_ZERO, L_PRISTINE, L_ARCHIVE, L_COMPRESSED };

struct label {
	enum label_kind kind;
	int64_t seq;            /* L_ARCHIVE, L_COMPRESSED */
	uint64_t where;         /* L_PRISTINE: guest offset; L_ARCHIVE: host offset */
};

struct state {
	size_t units;           /* virtual size, in units */
	struct label b[MAX_UNITS];
};

static bool label_eq(struct label x, struct label y)
{
	if (x.kind != y.kind)
		return false;
	switch (x.kind) {
	case L_ZERO:
		return true;
	case L_PRISTINE:
		return x.where == y.where;
	case L_ARCHIVE:
		return x.seq == y.seq && x.where == y.where;
	case L_COMPRESSED:
		return x.seq == y.seq;
	}
	return false;
}

static const char *label_str(struct label x, char *buf, size_t len)
{
	switch (x.kind) {
	case L_ZERO:
		snprintf(buf, len, "zero");
		break;
	case L_PRISTINE:
		snprintf(buf, len, "pristine@%" PRIu64, x.where);
		break;
	case L_ARCHIVE:
		snprintf(buf, len, "archive %" PRId64 "@%" PRIu64, x.seq, x.where);
		break;
	case L_COMPRESSED:
		snprintf(buf, len, "archive %" PRId64 " (compressed)", x.seq);
		break;
	}
	return buf;
}

/* A history: what plan_move() sees (struct lineage), plus the unit. */
struct history {
	uint64_t seed;
	uint64_t unit;          /* block size of the model, bytes */
	struct lineage l;
};

static size_t units_of(const struct history *h, uint64_t bytes)
{
	return (size_t)(bytes / h->unit);
}

/* Resize S to UNITS: what is cut is gone, what is added reads zeros. */
static void state_resize(struct state *s, size_t units)
{
	for (size_t i = s->units; i < units; i++)
		s->b[i] = (struct label){ L_ZERO, 0, 0 };
	s->units = units;
}

static void apply_commit(const struct history *h, const struct commit_map *c, struct state *s)
{
	state_resize(s, units_of(h, c->size_after));
	for (size_t j = 0; j < c->n; j++) {
		const struct extent *e = &c->v[j];
		for (uint64_t off = 0; off < e->length; off += h->unit) {
			struct label lb = { L_ZERO, 0, 0 };
			if (!e->zero && e->offset < 0)
				lb = (struct label){ L_COMPRESSED, c->seq, 0 };
			else if (!e->zero)
				lb = (struct label){ L_ARCHIVE, c->seq, (uint64_t)e->offset + off };
			s->b[units_of(h, e->start + off)] = lb;
		}
	}
}

/* The model's state SEQ (oldest or a kept commit). */
static void model_state(const struct history *h, int64_t seq, struct state *s)
{
	s->units = units_of(h, h->l.pristine_size);
	for (size_t i = 0; i < s->units; i++)
		s->b[i] = (struct label){ L_PRISTINE, 0, i * h->unit };
	for (size_t i = 0; i < h->l.n && h->l.c[i].seq <= seq; i++)
		apply_commit(h, &h->l.c[i], s);
}

/* Blocks written by the commits in (lo, hi]. */
static void written_between(const struct history *h, int64_t lo, int64_t hi,
			    bool touched[MAX_UNITS])
{
	memset(touched, 0, MAX_UNITS * sizeof(*touched));
	for (size_t i = 0; i < h->l.n; i++) {
		const struct commit_map *c = &h->l.c[i];
		if (c->seq <= lo || c->seq > hi)
			continue;
		for (size_t j = 0; j < c->n; j++)
			for (uint64_t off = 0; off < c->v[j].length; off += h->unit)
				touched[units_of(h, c->v[j].start + off)] = true;
	}
}

/* ------------------------------------------------------------ checking */

struct verdict {
	bool ok;
	char why[400];
};

static void fail_with(struct verdict *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail_with(struct verdict *v, const char *fmt, ...)
{
	va_list ap;

	if (!v->ok)
		return;         /* keep the first reason */
	v->ok = false;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
}

/* Everything a plan from HEAD to TARGET must be. */
static void check_move(const struct history *h, int64_t head, int64_t target,
		       struct verdict *v)
{
	struct state s, want;
	struct plan p;
	bool touched[MAX_UNITS], covered[MAX_UNITS] = { false };
	bool from_compressed = false, from_pristine = false;
	uint64_t sum = 0, prev_end = 0, union_bytes = 0;
	char a[64], b[64];
	int64_t lo = head < target ? head : target, hi = head < target ? target : head;

	model_state(h, head, &s);
	model_state(h, target, &want);
	written_between(h, lo, hi, touched);
	plan_move(&h->l, head, target, &p);

	if (p.from_size != lineage_size_of(&h->l, head) || p.from_size != s.units * h->unit)
		fail_with(v, "from_size %" PRIu64 ", head's size is %zu units", p.from_size, s.units);
	if (p.target_size != want.units * h->unit)
		fail_with(v, "target_size %" PRIu64 ", target's size is %zu units",
			  p.target_size, want.units);

	/* Every plan the planner makes passes the last check before writing. */
	const char *why = plan_validate(&p);
	if (why)
		fail_with(v, "plan_validate refuses the plan: %s", why);

	/* The base is resized to the target's size, then the pieces copied. */
	state_resize(&s, want.units);
	for (size_t i = 0; i < p.n; i++) {
		const struct piece *pc = &p.v[i];
		if (pc->length == 0)
			fail_with(v, "piece %zu is empty", i);
		if (i && pc->start < prev_end)
			fail_with(v, "piece %zu at %" PRIu64 " overlaps or precedes the one "
				  "before (ending at %" PRIu64 ")", i, pc->start, prev_end);
		if (pc->start + pc->length > p.target_size)
			fail_with(v, "piece %zu [%" PRIu64 ", +%" PRIu64 ") lies past the "
				  "target size %" PRIu64, i, pc->start, pc->length, p.target_size);
		if (pc->start % h->unit || pc->length % h->unit)
			fail_with(v, "piece %zu [%" PRIu64 ", +%" PRIu64 ") is not on the "
				  "extents' boundaries", i, pc->start, pc->length);
		if (!v->ok)
			break;
		prev_end = pc->start + pc->length;
		sum += pc->length;
		if (pc->src == FROM_PRISTINE)
			from_pristine = true;
		for (uint64_t off = 0; off < pc->length; off += h->unit) {
			size_t u = units_of(h, pc->start + off);
			struct label lb = { L_ZERO, 0, 0 };
			if (pc->src == FROM_PRISTINE)
				lb = (struct label){ L_PRISTINE, 0, pc->start + off };
			else if (pc->src == FROM_ARCHIVE)
				lb = (struct label){ L_ARCHIVE, pc->seq, pc->offset + off };
			/* A compressed extent has no offset to copy from: only
			 * its commit can be checked, and the plan must say so. */
			if (want.b[u].kind == L_COMPRESSED && pc->src == FROM_ARCHIVE) {
				lb = (struct label){ L_COMPRESSED, pc->seq, 0 };
				from_compressed = true;
			}
			s.b[u] = lb;
			covered[u] = true;
		}
	}
	if (!v->ok)
		goto out;

	for (size_t u = 0; u < want.units; u++) {
		if (!label_eq(s.b[u], want.b[u]))
			fail_with(v, "block %zu (offset %" PRIu64 ") is %s, state %" PRId64 " has %s",
				  u, u * h->unit, label_str(s.b[u], a, sizeof(a)), target,
				  label_str(want.b[u], b, sizeof(b)));
		if (covered[u] && !touched[u])
			fail_with(v, "block %zu is copied, but no commit between %" PRId64
				  " and %" PRId64 " wrote it", u, lo, hi);
		if (touched[u])
			union_bytes += h->unit;
	}
	if (p.bytes != sum)
		fail_with(v, "plan.bytes %" PRIu64 ", the pieces add up to %" PRIu64, p.bytes, sum);
	if (p.bytes > union_bytes)
		fail_with(v, "plan.bytes %" PRIu64 " exceeds the %" PRIu64 " bytes written between",
			  p.bytes, union_bytes);
	if (p.needs_pristine != from_pristine)
		fail_with(v, "needs_pristine is %d, pieces from the pristine copy: %d",
			  p.needs_pristine, from_pristine);
	if (p.needs_replay != from_compressed)
		fail_with(v, "needs_replay is %d, pieces from compressed data: %d",
			  p.needs_replay, from_compressed);
out:
	plan_free(&p);
}

/* ------------------------------------------------------------ histories */

static void add_extent(struct commit_map *c, size_t *cap, struct extent e)
{
	if (c->n == *cap) {
		*cap = *cap ? 2 * *cap : 8;
		c->v = realloc(c->v, *cap * sizeof(*c->v));
		if (!c->v)
			abort();
	}
	c->v[c->n++] = e;
}

/* Random extents of one commit over a base of UNITS units: sorted,
 * disjoint, some touching; zero, data (at shuffled host offsets) and,
 * rarely, compressed data. */
static void random_extents(struct history *h, struct commit_map *c, size_t units,
			   bool compressed_ok)
{
	unsigned density = (unsigned)rnd_in(5, 60);
	unsigned zero_pct = (unsigned)rnd_in(0, 40);
	size_t cap = 0, u = 0;

	while (u < units) {
		if (!chance(density)) {
			u++;
			continue;
		}
		size_t len = (size_t)rnd_in(1, chance(20) ? 12 : 3);
		if (u + len > units)
			len = units - u;
		struct extent e = { u * h->unit, len * h->unit, chance(zero_pct), -1 };
		if (!e.zero && !(compressed_ok && chance(5)))
			e.offset = 0;   /* placed below */
		add_extent(c, &cap, e);
		u += len;       /* the next one may touch this one */
	}
	/* Host offsets: the archive's clusters in an order of their own. */
	uint64_t host = 3 * h->unit;
	size_t *order = malloc((c->n ? c->n : 1) * sizeof(*order));
	for (size_t i = 0; i < c->n; i++)
		order[i] = i;
	for (size_t i = c->n; i > 1; i--) {
		size_t k = (size_t)rnd_in(0, i - 1), t = order[i - 1];
		order[i - 1] = order[k];
		order[k] = t;
	}
	for (size_t i = 0; i < c->n; i++) {
		struct extent *e = &c->v[order[i]];
		if (e->zero || e->offset < 0)
			continue;
		e->offset = (int64_t)host;
		host += e->length + (chance(30) ? rnd_in(1, 4) * h->unit : 0);
	}
	free(order);
}

static void random_history(struct history *h, uint64_t seed)
{
	static const uint64_t units[] = { 65536, 65536, 65536, 4096, 512 };
	bool compressed_ok = chance(10);
	uint64_t size;
	int64_t seq;

	memset(h, 0, sizeof(*h));
	h->seed = seed;
	rng_state = seed;
	h->unit = units[rnd() % (sizeof(units) / sizeof(*units))];
	/* Pruned histories start after a state > 0. */
	h->l.oldest = chance(30) ? (int64_t)rnd_in(1, 6) : 0;
	size = rnd_in(8, 64);
	h->l.pristine_size = size * h->unit;
	h->l.n = (size_t)rnd_in(chance(5) ? 0 : 1, MAX_COMMITS);
	h->l.c = calloc(h->l.n ? h->l.n : 1, sizeof(*h->l.c));
	seq = h->l.oldest;
	for (size_t i = 0; i < h->l.n; i++) {
		struct commit_map *c = &h->l.c[i];
		/* Gaps: abandoned commits are not in the lineage. */
		seq += chance(20) ? (int64_t)rnd_in(2, 4) : 1;
		c->seq = seq;
		if (chance(15) && size < MAX_UNITS)
			size = rnd_in(size + 1, size + 16 < MAX_UNITS ? size + 16 : MAX_UNITS);
		c->size_after = size * h->unit;
		random_extents(h, c, (size_t)size, compressed_ok);
	}
}

static int64_t state_seq(const struct history *h, size_t i)
{
	return i == 0 ? h->l.oldest : h->l.c[i - 1].seq;
}

/* Every move between two states of one random history. */
static void test_random_history(uint64_t seed)
{
	struct history h;
	struct verdict v = { true, "" };
	int64_t bad_head = 0, bad_target = 0;
	size_t states, moves = 0;

	random_history(&h, seed);
	states = h.l.n + 1;
	for (size_t i = 0; i < states && v.ok; i++)
		for (size_t j = 0; j < states && v.ok; j++) {
			bad_head = state_seq(&h, i);
			bad_target = state_seq(&h, j);
			check_move(&h, bad_head, bad_target, &v);
			moves++;
		}
	if (!ok(v.ok, "seed %" PRIu64 ": %zu commits after state %" PRId64 ", %zu moves",
		seed, h.l.n, h.l.oldest, moves))
		diag("seed %" PRIu64 ", unit %" PRIu64 ", head %" PRId64 " -> target %" PRId64
		     ": %s", seed, h.unit, bad_head, bad_target, v.why);
	lineage_free(&h.l);
}

/* ------------------------------------------------------------ by hand */

#define U 65536u

/* A commit with up to four extents {start_unit, units, zero, host_unit};
 * host_unit < 0 with zero false: compressed. */
struct ex { uint64_t start, len; bool zero; int64_t host; };

static struct commit_map hand_commit(int64_t seq, uint64_t size_units, size_t n,
				     const struct ex *ex)
{
	struct commit_map c = { seq, size_units * U, calloc(n ? n : 1, sizeof(struct extent)), n };

	for (size_t i = 0; i < n; i++)
		c.v[i] = (struct extent){ ex[i].start * U, ex[i].len * U, ex[i].zero,
					  ex[i].zero || ex[i].host < 0 ? -1 : ex[i].host * (int64_t)U };
	return c;
}

static bool piece_is(const struct plan *p, size_t i, uint64_t start_u, uint64_t len_u,
		     enum piece_source src, int64_t seq, uint64_t host_u)
{
	const struct piece *pc = i < p->n ? &p->v[i] : NULL;
	bool good = pc && pc->start == start_u * U && pc->length == len_u * U && pc->src == src &&
		    (src != FROM_ARCHIVE || (pc->seq == seq && pc->offset == host_u * U));

	if (!good && pc)
		diag("  piece %zu: start %" PRIu64 " length %" PRIu64 " src %d seq %" PRId64
		     " offset %" PRIu64, i, pc->start, pc->length, (int)pc->src, pc->seq, pc->offset);
	else if (!good)
		diag("  piece %zu: missing (%zu pieces)", i, p->n);
	return good;
}

/* pristine 8 units; commit 1 writes 0-1 (data at host 3-4); commit 2
 * writes 1 (data at host 3) and zeroes 2. */
static void hand_two_commits(struct history *h)
{
	static const struct ex c1[] = { { 0, 2, false, 3 } };
	static const struct ex c2[] = { { 1, 1, false, 3 }, { 2, 1, true, 0 } };

	memset(h, 0, sizeof(*h));
	h->unit = U;
	h->l.pristine_size = 8 * U;
	h->l.n = 2;
	h->l.c = calloc(2, sizeof(*h->l.c));
	h->l.c[0] = hand_commit(1, 8, 1, c1);
	h->l.c[1] = hand_commit(2, 8, 2, c2);
}

static void test_hand_cases(void)
{
	struct history h;
	struct verdict v = { true, "" };
	struct plan p;

	hand_two_commits(&h);

	/* Undo one step: 2 -> 1. */
	plan_move(&h.l, 2, 1, &p);
	ok(p.n == 2 && piece_is(&p, 0, 1, 1, FROM_ARCHIVE, 1, 4) &&
	   piece_is(&p, 1, 2, 1, FROM_PRISTINE, 0, 0) && p.bytes == 2 * U &&
	   p.needs_pristine && !p.needs_replay,
	   "undo 1 step: unit 1 from archive 1 (host 4), unit 2 from pristine");
	plan_free(&p);

	/* Redo: 1 -> 2. */
	plan_move(&h.l, 1, 2, &p);
	ok(p.n == 2 && piece_is(&p, 0, 1, 1, FROM_ARCHIVE, 2, 3) &&
	   piece_is(&p, 1, 2, 1, FROM_ZERO, 0, 0) && p.bytes == 2 * U && !p.needs_pristine,
	   "redo 1 step: unit 1 from archive 2, unit 2 zeroed");
	plan_free(&p);

	/* To the oldest state: everything written comes from pristine. */
	plan_move(&h.l, 2, 0, &p);
	ok(p.n >= 1 && p.bytes == 3 * U && p.v[0].src == FROM_PRISTINE &&
	   p.v[p.n - 1].src == FROM_PRISTINE && p.v[0].start == 0 &&
	   p.v[p.n - 1].start + p.v[p.n - 1].length == 3 * U,
	   "undo to state 0: units 0-2 from pristine");
	plan_free(&p);

	/* Redo from pristine to 2 in one move. */
	plan_move(&h.l, 0, 2, &p);
	ok(p.bytes == 3 * U && p.n >= 3 && piece_is(&p, 0, 0, 1, FROM_ARCHIVE, 1, 3) &&
	   piece_is(&p, 1, 1, 1, FROM_ARCHIVE, 2, 3) && piece_is(&p, 2, 2, 1, FROM_ZERO, 0, 0),
	   "redo 0 -> 2: newest writer of each unit");
	plan_free(&p);

	/* Nowhere to go. */
	plan_move(&h.l, 1, 1, &p);
	ok(p.n == 0 && p.bytes == 0 && p.from_size == 8 * U && p.target_size == 8 * U,
	   "head = target: empty plan");
	plan_free(&p);

	ok(lineage_has_state(&h.l, 0) && lineage_has_state(&h.l, 2) &&
	   !lineage_has_state(&h.l, 3), "lineage_has_state");
	lineage_free(&h.l);

	/* A commit that grew the base: pristine 4 units, commit 1 grows it to
	 * 8 and writes units 2 and 6; commit 2 writes unit 7. */
	static const struct ex g1[] = { { 2, 1, false, 3 }, { 6, 1, false, 4 } };
	static const struct ex g2[] = { { 7, 1, false, 3 } };
	memset(&h, 0, sizeof(h));
	h.unit = U;
	h.l.pristine_size = 4 * U;
	h.l.n = 2;
	h.l.c = calloc(2, sizeof(*h.l.c));
	h.l.c[0] = hand_commit(1, 8, 2, g1);
	h.l.c[1] = hand_commit(2, 8, 1, g2);

	plan_move(&h.l, 2, 0, &p);
	ok(p.from_size == 8 * U && p.target_size == 4 * U && p.n == 1 &&
	   piece_is(&p, 0, 2, 1, FROM_PRISTINE, 0, 0),
	   "grown base, undo to 0: shrink to 4 units, unit 2 from pristine only");
	plan_free(&p);

	plan_move(&h.l, 0, 1, &p);
	ok(p.from_size == 4 * U && p.target_size == 8 * U && p.n == 2 &&
	   piece_is(&p, 0, 2, 1, FROM_ARCHIVE, 1, 3) && piece_is(&p, 1, 6, 1, FROM_ARCHIVE, 1, 4),
	   "grown base, redo to 1: grow to 8 units, units 2 and 6 from archive 1");
	plan_free(&p);

	plan_move(&h.l, 2, 1, &p);
	ok(p.n == 1 && piece_is(&p, 0, 7, 1, FROM_ZERO, 0, 0) && p.target_size == 8 * U,
	   "grown base, undo 2 -> 1: unit 7 (grown space) reads zeros");
	plan_free(&p);
	for (int64_t a = 0; a <= 2; a++)
		for (int64_t b = 0; b <= 2; b++)
			check_move(&h, a, b, &v);
	if (!ok(v.ok, "grown base: every move matches the model"))
		diag("%s", v.why);
	lineage_free(&h.l);

	/* Pruned: oldest state 3 (the pristine copy holds it), kept commits 5
	 * and 7 (6 abandoned). */
	static const struct ex p5[] = { { 0, 4, false, 3 } };
	static const struct ex p7[] = { { 2, 4, true, 0 } };
	memset(&h, 0, sizeof(h));
	h.unit = U;
	h.l.oldest = 3;
	h.l.pristine_size = 8 * U;
	h.l.n = 2;
	h.l.c = calloc(2, sizeof(*h.l.c));
	h.l.c[0] = hand_commit(5, 8, 1, p5);
	h.l.c[1] = hand_commit(7, 8, 1, p7);
	ok(lineage_has_state(&h.l, 3) && !lineage_has_state(&h.l, 0) &&
	   !lineage_has_state(&h.l, 6), "pruned lineage: states 3, 5, 7 only");
	plan_move(&h.l, 7, 3, &p);
	ok(p.n == 1 && piece_is(&p, 0, 0, 6, FROM_PRISTINE, 0, 0),
	   "pruned: undo to the oldest state reads the pristine copy");
	plan_free(&p);
	plan_move(&h.l, 7, 5, &p);
	ok(p.n == 2 && piece_is(&p, 0, 2, 2, FROM_ARCHIVE, 5, 5) &&
	   piece_is(&p, 1, 4, 2, FROM_PRISTINE, 0, 0) && p.needs_pristine,
	   "pruned: 7 -> 5 copies units 2-3 from archive 5, 4-5 from pristine");
	plan_free(&p);
	lineage_free(&h.l);

	/* Compressed data cannot be copied: the plan says so. */
	static const struct ex z1[] = { { 0, 2, false, -1 } };
	static const struct ex z2[] = { { 1, 2, false, 3 } };
	memset(&h, 0, sizeof(h));
	h.unit = U;
	h.l.pristine_size = 8 * U;
	h.l.n = 2;
	h.l.c = calloc(2, sizeof(*h.l.c));
	h.l.c[0] = hand_commit(1, 8, 1, z1);
	h.l.c[1] = hand_commit(2, 8, 1, z2);
	plan_move(&h.l, 2, 1, &p);
	ok(p.needs_replay, "compressed archive data: needs_replay");
	plan_free(&p);
	plan_move(&h.l, 1, 2, &p);
	ok(!p.needs_replay, "compressed data not read: no replay needed");
	plan_free(&p);
	lineage_free(&h.l);
}

/* Extents of different commits that interleave, so that their union is
 * only right when sorted before merging. */
static void test_interleaved(void)
{
	static const struct ex a[] = { { 0, 1, false, 3 }, { 6, 1, false, 4 } };
	static const struct ex b[] = { { 1, 1, false, 3 }, { 3, 2, false, 4 } };
	static const struct ex c[] = { { 2, 1, true, 0 }, { 5, 2, false, 3 } };
	struct history h = { 0 };
	struct verdict v = { true, "" };

	h.unit = U;
	h.l.pristine_size = 8 * U;
	h.l.n = 3;
	h.l.c = calloc(3, sizeof(*h.l.c));
	h.l.c[0] = hand_commit(1, 8, 2, a);
	h.l.c[1] = hand_commit(2, 8, 2, b);
	h.l.c[2] = hand_commit(3, 8, 2, c);
	for (int64_t x = 0; x <= 3; x++)
		for (int64_t y = 0; y <= 3; y++)
			check_move(&h, x, y, &v);
	if (!ok(v.ok, "interleaved extents of three commits: every move matches the model"))
		diag("%s", v.why);
	lineage_free(&h.l);
}

/* plan_validate on hand-made plans of a 16-unit target: each kind of
 * piece that must never be written is refused. */
static void expect_plan(const char *what, const struct piece *v, size_t n, bool replay,
			const char *want)
{
	struct plan p = { (struct piece *)v, n, n, 0, 16 * U, 16 * U, false, replay };

	is_str(plan_validate(&p), want, "plan_validate: %s", what);
}

static void test_plan_validate(void)
{
	static const struct piece good[] = {
		{ 0, U, FROM_ARCHIVE, 1, 5 * U }, { U, 2 * U, FROM_PRISTINE, 0, 0 },
		{ 15 * U, U, FROM_ZERO, 0, 0 },
	};
	static const struct piece past[] = { { 15 * U, 2 * U, FROM_ZERO, 0, 0 } };
	static const struct piece wrap[] = { { UINT64_MAX - U + 1, 2 * U, FROM_ZERO, 0, 0 } };
	static const struct piece overlap[] = {
		{ 0, 2 * U, FROM_ZERO, 0, 0 }, { U, U, FROM_PRISTINE, 0, 0 },
	};
	static const struct piece unsorted[] = {
		{ 4 * U, U, FROM_ZERO, 0, 0 }, { 0, U, FROM_PRISTINE, 0, 0 },
	};
	static const struct piece empty[] = { { 0, 0, FROM_ZERO, 0, 0 } };
	static const struct piece far[] = { { 0, U, FROM_ARCHIVE, 1, UINT64_MAX - 10 } };

	expect_plan("a sound plan passes", good, 3, false, NULL);
	expect_plan("a piece past the target size", past, 1, false, "a piece outside the image");
	expect_plan("a piece whose end wraps around", wrap, 1, false, "a piece outside the image");
	expect_plan("overlapping pieces", overlap, 2, false, "pieces out of order or overlapping");
	expect_plan("pieces out of order", unsorted, 2, false, "pieces out of order or overlapping");
	expect_plan("an empty piece", empty, 1, false, "a piece of length zero");
	expect_plan("an archive offset past INT64_MAX", far, 1, false,
		    "an archive offset out of range");
	expect_plan("a compressed piece has no offset when replay is used", far, 1, true, NULL);
}

int main(void)
{
	test_plan_validate();
	test_hand_cases();
	test_interleaved();
	for (uint64_t seed = 1; seed <= HISTORIES; seed++)
		test_random_history(seed * UINT64_C(2654435761));
	return done_testing();
}
