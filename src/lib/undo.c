#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "chain.h"
#include "exitcodes.h"
#include "extents.h"
#include "files.h"
#include "image.h"
#include "lineage.h"
#include "locate.h"
#include "lock.h"
#include "parse.h"
#include "recover.h"
#include "renew.h"
#include "report.h"
#include "strbuf.h"
#include "undo-exec.h"
#include "undo-target.h"
#include "undo.h"

const char *undo_method_name(enum undo_method m)
{
	return m == METHOD_REPLAY ? "replay" : "extents";
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool overlay_exists(const struct store *s)
{
	struct stat st;
	return lstat(s->overlay, &st) == 0;
}

/* The overlay, judged, and still backed by the store's base. */
static int open_overlay(const struct store *s, struct chain *c)
{
	char *base;
	int rc = chain_open(s->overlay, c);

	if (rc)
		return rc;
	base = realpath(chain_base(c)->path, NULL);
	if (!base || strcmp(base, s->base) != 0) {
		ovl_error(s->overlay, "overlay is no longer backed by %s", ovl_quote(s->base));
		rc = OVL_EXIT_FAILURE;
	}
	free(base);
	return rc;
}

/* ------------------------------------------------------------ checks */

static int check_overlay_data(const struct chain *c, const struct undo_opts *o)
{
	struct extents ex;
	char size[32];
	int rc = extents_of_overlay(c, &ex);

	if (!rc && ex.n && !o->discard_overlay) {
		ovl_error(chain_top(c)->path, "overlay holds data (%s) written against the "
			  "current base; commit it first, or use --discard-overlay",
			  format_size(ex.bytes, size, sizeof(size)));
		rc = OVL_EXIT_FAILURE;
	}
	extents_free(&ex);
	return rc;
}

static int probe_images(const struct store *s, bool have_overlay)
{
	int rc = have_overlay ? probe_qemu_locks(s->overlay) : OVL_EXIT_OK;

	return rc ? rc : probe_qemu_locks(s->base);
}

/*
 * The last check before the plan from state FROM to TARGET is carried
 * out: the plan itself is sound (plan_validate), and the base has the
 * size the history gives state FROM -- or, when a crashed undo is being
 * finished, perhaps already the target's.  Otherwise the history does not
 * describe this base, and nothing is written.
 */
static int check_plan(struct store *s, const struct plan *p, int64_t from, int64_t target,
		      bool recovering)
{
	const char *why = plan_validate(p);
	struct image img;
	int rc;

	if (why) {
		ovl_error(s->db.path, "the move from state %" PRId64 " to state %" PRId64 ": %s: "
			  "damaged history, nothing written", from, target, why);
		return OVL_EXIT_FAILURE;
	}
	rc = image_read(s->base, s->base_format, &img);
	if (!rc && img.virtual_size != p->from_size &&
	    !(recovering && img.virtual_size == p->target_size)) {
		ovl_error(s->db.path, "state %" PRId64 " is %" PRIu64 " bytes, but %s is %" PRIu64
			  ": damaged history, nothing written", from, p->from_size,
			  ovl_quote(s->base), img.virtual_size);
		rc = OVL_EXIT_FAILURE;
	}
	image_free(&img);
	return rc;
}

/* ------------------------------------------------------------ steps */

static char *journal_args(int64_t from, enum undo_method m)
{
	json_t *o = json_pack("{s:I, s:s}", "from", (json_int_t)from, "method", undo_method_name(m));
	char *text = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return text;
}

static int begin_undo(struct store *s, int64_t target, enum undo_method m, int64_t *id)
{
	char *args = journal_args(s->head, m);
	int rc = db_begin(&s->db);

	if (!rc)
		rc = journal_add(s, "undo", target, "renew", args, id);
	rc = db_finish(&s->db, rc);
	if (!rc)
		journal_crash_point("undo", "renew");
	free(args);
	return rc;
}

static int finish_undo(struct store *s, int64_t target, int64_t id)
{
	int rc = db_begin(&s->db);

	if (!rc)
		rc = store_set_meta_int(s, "head", target);
	if (!rc)
		rc = journal_remove(s, id);
	rc = db_finish(&s->db, rc);
	if (!rc)
		s->head = target;
	return rc;
}

/* Its data was written against the old base: it cannot stay. */
static int renew_for_undo(struct store *s)
{
	struct chain c;
	int rc;

	if (!overlay_exists(s))
		return OVL_EXIT_OK;
	rc = open_overlay(s, &c);
	if (!rc)
		rc = renew_replace(&c, s->overlay);
	if (c.depth)
		chain_free(&c);
	return rc;
}

/* Recovery cannot tell data the user chose to discard from data a VM
 * wrote since the crash: it never discards, it warns. */
static int renew_unless_data(struct store *s)
{
	struct chain c;
	struct extents ex = { 0 };
	int rc;

	if (!overlay_exists(s))
		return OVL_EXIT_OK;
	rc = open_overlay(s, &c);
	if (!rc)
		rc = extents_of_overlay(&c, &ex);
	if (!rc && ex.n)
		ovl_warn(s->overlay, "overlay holds data; left as it is (use ovl-renew "
			 "--discard once you know it is not needed)");
	else if (!rc)
		rc = renew_replace(&c, s->overlay);
	extents_free(&ex);
	if (c.depth)
		chain_free(&c);
	return rc;
}

/* Before anything is written: what the method will read is judged and
 * matches its logged digests (the archives the plan reads, not others). */
static int check_sources(struct store *s, const struct lineage *l, const struct plan *p,
			 int64_t target, enum undo_method m)
{
	return m == METHOD_REPLAY ? check_replay_archives(s, l, target)
				  : undo_prepare_sources(s, p);
}

static int write_base(struct store *s, const struct lineage *l, const struct plan *p,
		      int64_t target, enum undo_method m, bool progress)
{
	return m == METHOD_REPLAY ? undo_by_replay(s, l, target, progress)
				  : undo_by_extents(s, p, progress);
}

/* From the journal row on: renew, write, finish. */
static int run_steps(struct store *s, const struct lineage *l, const struct plan *p,
		     int64_t target, enum undo_method m, int64_t id, bool progress)
{
	int rc = renew_for_undo(s);

	if (!rc)
		rc = journal_step(s, id, "write");
	if (!rc)
		journal_crash_point("undo", "write");
	if (!rc)
		rc = write_base(s, l, p, target, m, progress);
	if (!rc)
		rc = fsync_path(s->base, false);
	if (!rc)
		rc = finish_undo(s, target, id);
	return rc;
}

static void say_plan(const struct store *s, const struct plan *p, int64_t target,
		     enum undo_method m)
{
	char bytes[32], size[32];

	ovl_note("would bring %s from state %" PRId64 " to state %" PRId64 " by %s: "
		 "%s to write%s%s", ovl_quote(s->base), s->head, target, undo_method_name(m),
		 m == METHOD_REPLAY ? "the whole image" : format_size(p->bytes, bytes, sizeof(bytes)),
		 p->target_size != p->from_size ? ", size " : "",
		 p->target_size != p->from_size ? format_size(p->target_size, size, sizeof(size)) : "");
}

/* Everything after the store is open and recovered. */
static int undo_in_store(struct store *s, const struct undo_opts *o, struct undo_result *res)
{
	struct lineage l;
	struct plan p = { 0 };
	struct chain c = { 0 };
	bool have_overlay = overlay_exists(s);
	enum undo_method m = o->method;
	int64_t target = 0, id;
	int rc = lineage_load(s, &l);

	if (!rc)
		rc = select_target(s, &l, o, &target);
	res->from = s->head;
	res->to = target;
	if (!rc && target == s->head) {
		res->nothing_to_do = true;
		ovl_note("%s is already in state %" PRId64, ovl_quote(s->base), target);
		goto out;
	}
	if (!rc)
		rc = probe_images(s, have_overlay);
	if (!rc && have_overlay)
		rc = open_overlay(s, &c);
	if (!rc && have_overlay)
		rc = check_overlay_data(&c, o);
	if (!rc) {
		plan_move(&l, s->head, target, &p);
		rc = check_plan(s, &p, s->head, target, false);
	}
	if (!rc) {
		if (p.needs_replay && m == METHOD_EXTENTS) {
			ovl_note("some archived data is compressed: using replay");
			m = METHOD_REPLAY;
		}
		res->bytes = p.bytes;
		rc = check_sources(s, &l, &p, target, m);
	}
	res->method = undo_method_name(m);
	if (!rc && o->dry_run) {
		say_plan(s, &p, target, m);
		goto out;
	}
	if (!rc)
		rc = begin_undo(s, target, m, &id);
	if (!rc)
		rc = run_steps(s, &l, &p, target, m, id, o->progress);
out:
	if (c.depth)
		chain_free(&c);
	plan_free(&p);
	lineage_free(&l);
	return rc;
}

int undo_image(const char *path, const struct undo_opts *o, struct undo_result *res)
{
	double start = now_seconds();
	struct store s;
	int rc;

	memset(res, 0, sizeof(*res));
	res->method = undo_method_name(o->method);
	rc = store_open_for(path, o->store_dir, o->dry_run ? STORE_DRY_RUN : STORE_WRITE, &s);
	if (!rc && !s.pristine) {
		ovl_error(s.dir, "history has no pristine copy yet (no commit was made)");
		rc = OVL_EXIT_FAILURE;
	}
	if (!rc) {
		res->base = xstrdup(s.base);
		rc = undo_in_store(&s, o, res);
	}
	store_close(&s);
	res->seconds = now_seconds() - start;
	return rc;
}

void undo_result_free(struct undo_result *res)
{
	free(res->base);
	res->base = NULL;
}

/* ---------------------------------------------------------- recovery */

static enum undo_method journal_method(const char *args)
{
	json_t *o = json_loads(args ? args : "{}", 0, NULL);
	const char *m = json_string_value(json_object_get(o, "method"));
	enum undo_method method = m && strcmp(m, "replay") == 0 ? METHOD_REPLAY : METHOD_EXTENTS;

	json_decref(o);
	return method;
}

int undo_recover(struct store *s, const struct journal_entry *e)
{
	enum undo_method m = journal_method(e->args);
	struct lineage l;
	struct plan p = { 0 };
	bool renewed = strcmp(e->step, "write") == 0;
	int rc = lineage_load(s, &l);

	ovl_note("finishing the undo to state %" PRId64 ", interrupted at step %s", e->seq, e->step);
	if (!rc && !lineage_has_state(&l, e->seq)) {
		ovl_error(s->dir, "journal names state %" PRId64 ", which is not kept", e->seq);
		rc = OVL_EXIT_FAILURE;
	}
	if (!rc) {
		plan_move(&l, s->head, e->seq, &p);
		rc = check_plan(s, &p, s->head, e->seq, true);
		if (!rc && p.needs_replay)
			m = METHOD_REPLAY;
		if (!rc)
			rc = check_sources(s, &l, &p, e->seq, m);
	}
	if (!rc)
		rc = probe_images(s, overlay_exists(s));
	if (!rc && !renewed)
		rc = renew_unless_data(s);
	if (!rc && !renewed)
		rc = journal_step(s, e->id, "write");
	if (!rc)
		rc = write_base(s, &l, &p, e->seq, m, false);
	if (!rc)
		rc = fsync_path(s->base, false);
	if (!rc)
		rc = finish_undo(s, e->seq, e->id);
	plan_free(&p);
	lineage_free(&l);
	return rc;
}
