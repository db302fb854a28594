#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain.h"
#include "commit.h"
#include "copy.h"
#include "exitcodes.h"
#include "extents.h"
#include "files.h"
#include "history-check.h"
#include "history.h"
#include "lock.h"
#include "parse.h"
#include "progress.h"
#include "qemu.h"
#include "recover.h"
#include "renew.h"
#include "report.h"
#include "siblings.h"
#include "store.h"
#include "strbuf.h"

/*
 * Run as soon as the overlay is read (chain_hook): probe both files while
 * no qemu-img child of ours holds a lock (even -U queries take qemu's
 * shared lock), then map the overlay beside the rest of the chain's reading.
 */
static int probe_then_map(const struct chain *c, void *arg)
{
	struct extents_job **map = arg;
	int rc = probe_qemu_locks(chain_top(c)->path);

	if (!rc)
		rc = probe_qemu_locks(chain_top(c)->backing_path);
	if (!rc)
		*map = extents_of_overlay_start(c);
	return rc;
}

static int open_chain_and_map(const char *path, struct chain *c, struct extents_job **map)
{
	struct chain_hook hook = { probe_then_map, map };

	*map = NULL;
	return chain_open_hooked(path, c, &hook);
}

/* The overlay's map (started with the chain); is there enough to commit? */
static int measure(struct extents_job **job, const struct commit_opts *o,
		   struct extents *ex, struct commit_result *res)
{
	int rc = extents_job_join(*job, ex);

	*job = NULL;
	if (rc)
		return rc;
	res->size = ex->bytes;
	if (ex->n == 0)
		res->skip_reason = "the overlay holds no data";
	else if (ex->bytes < o->min_size)
		res->skip_reason = "the overlay holds less data than --min-size";
	res->skipped = res->skip_reason != NULL;
	return OVL_EXIT_OK;
}

static void say_plan(const struct chain *c, const struct commit_opts *o,
		     const struct commit_result *res)
{
	char size[32];

	format_size(res->size, size, sizeof(size));
	if (res->skipped) {
		ovl_note("%s %s: %s (%s)", o->dry_run ? "would skip" : "skipped",
			 ovl_quote(chain_top(c)->path), res->skip_reason, size);
		return;
	}
	ovl_note("would commit %s (%s of data) into %s%s%s, then renew it",
		 ovl_quote(chain_top(c)->path), size, ovl_quote(chain_base(c)->path),
		 o->no_history ? "" : ", keeping history in ",
		 o->no_history ? "" : ovl_quote(res->store));
}

static int commit_plain_run(const struct chain *c, bool progress)
{
	struct progress pg;
	int rc;

	progress_start(&pg, progress, 0);
	rc = qemu_commit(chain_image_opts(c, 0, true), chain_top(c)->path,
			 "cannot commit into the base", &pg);
	progress_finish(&pg, rc == 0);
	return rc;
}

static int refuse_if_history(const struct chain *c, const struct commit_opts *o)
{
	char *base = realpath(chain_base(c)->path, NULL);
	char *dir = base ? store_dir_for(o->store_dir, base) : NULL;
	int rc = OVL_EXIT_OK;

	if (dir && store_exists(dir)) {
		ovl_error(chain_base(c)->path, "base has a history in %s; a commit without "
			  "history would make it wrong", ovl_quote(dir));
		rc = OVL_EXIT_FAILURE;
	}
	free(base);
	free(dir);
	return rc;
}

/* --no-history: commit without emptying, sync, then renew (the new
 * overlay made while qemu-img commits, as with history). */
static int commit_plain(const struct chain *c, struct extents_job **map,
			const struct commit_opts *o, struct commit_result *res)
{
	struct renew_job *fresh;
	struct extents ex;
	int rc = refuse_if_history(c, o);

	if (!rc)
		rc = refuse_other_overlays(res->base, chain_top(c)->path);
	if (!rc)
		rc = measure(map, o, &ex, res);
	if (rc)
		return rc;
	extents_free(&ex);
	res->size_before = res->size_after = chain_base(c)->virtual_size;
	if (res->skipped || o->dry_run)
		return OVL_EXIT_OK;
	fresh = renew_prepare_start(c, chain_top(c)->path);
	rc = commit_plain_run(c, o->progress);
	if (!rc)
		rc = fsync_path(chain_base(c)->path, false);
	if (!rc && chain_top(c)->virtual_size > res->size_before)
		res->size_after = chain_top(c)->virtual_size;
	return renew_prepare_finish(fresh, rc);
}

static int check_store_owner(const struct store *s, const char *base, const char *overlay)
{
	if (strcmp(s->base, base) != 0) {
		ovl_error(s->dir, "this history belongs to base %s, not %s",
			  ovl_quote(s->base), ovl_quote(base));
		return OVL_EXIT_FAILURE;
	}
	if (strcmp(s->overlay, overlay) != 0) {
		ovl_error(base, "base already keeps history for overlay %s; "
			  "one overlay per base", ovl_quote(s->overlay));
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}

/* What the store opener needs to know of this commit. */
struct commit_ctx {
	const struct chain *c;
	const char *base;
	struct extents_job **map;
};

static int check_owner_hook(const struct store *s, void *arg)
{
	struct commit_ctx *ctx = arg;

	return check_store_owner(s, ctx->base, chain_top(ctx->c)->path);
}

/* Before a crashed run's work is finished: stop the map child, whose
 * shared lock on the overlay would look like a VM to recovery's probes. */
static void stop_map_hook(void *arg)
{
	struct commit_ctx *ctx = arg;

	if (*ctx->map)
		extents_job_join(*ctx->map, NULL);
	*ctx->map = NULL;
}

/* The store for this commit (S, and DIR); with NEW, made if missing.
 * The overlay's lock is held by commit_overlay already. */
static int open_store(struct store *s, const char *dir, struct commit_ctx *ctx,
		      const struct store_new *new, bool dry_run)
{
	struct store_op op = {
		.mode = dry_run ? STORE_DRY_RUN : STORE_WRITE, .optional = !new,
		.create = new, .check = check_owner_hook,
		.before_recovery = stop_map_hook, .arg = ctx,
	};

	return store_open_op(s, dir, &op);
}

static int make_pristine(struct store *s, uint64_t virtual_size)
{
	char digest[DIGEST_STR_LEN];
	char *name = xasprintf("pristine.%s", s->base_format);
	char *final = store_path(s, name);
	char *tmp = tmp_create_beside(final);
	int rc = tmp ? copy_file_sparse(s->base, tmp, digest) : OVL_EXIT_FAILURE;

	/* A pristine file not named in meta is a leftover: replace it. */
	if (!rc)
		rc = rename_replace(tmp, final);
	if (!rc)
		rc = db_begin(&s->db);
	if (!rc)
		rc = store_set_meta(s, "pristine", name);
	if (!rc)
		rc = store_set_meta(s, "pristine_digest", digest);
	if (!rc)
		rc = store_set_meta_int(s, "pristine_size", (int64_t)virtual_size);
	rc = db_finish(&s->db, rc);
	if (rc && tmp)
		unlink(tmp);
	else if (!rc)
		rc = store_load_meta(s);
	free(tmp);
	free(final);
	free(name);
	return rc;
}

static int ensure_store(struct store *s, const struct chain *c, const char *base,
			const char *dir)
{
	struct extents_job *none = NULL;
	struct commit_ctx ctx = { c, base, &none };
	struct store_new new = { base, chain_base(c)->format, chain_top(c)->path };
	int rc = OVL_EXIT_OK;

	/* The map is joined by now: nothing to stop before a recovery. */
	if (!s->dir)
		rc = open_store(s, dir, &ctx, &new, false);
	if (!rc && !s->pristine)
		rc = make_pristine(s, chain_base(c)->virtual_size);
	return rc;
}

struct fresh_overlay {
	const struct chain *c;
	struct renew_job *job;
};

static void start_fresh_overlay(void *arg)
{
	struct fresh_overlay *f = arg;

	f->job = renew_prepare_start(f->c, chain_top(f->c)->path);
}

/* The "commit" step, then "renew".  The empty overlay that replaces the
 * committed one does not depend on the commit, so it is made while
 * qemu-img commits (qemu-img create -u opens no other file) and only
 * renamed into place once the base holds the data. */
static int commit_then_renew(struct store *s, const struct chain *c,
			     struct pending_commit *pc, bool progress)
{
	struct fresh_overlay fresh = { c, NULL };
	int rc;

	pc->beside_commit = start_fresh_overlay;
	pc->beside_arg = &fresh;
	rc = history_commit_archive(s, pc, chain_top(c)->virtual_size, progress);
	if (fresh.job)
		return renew_prepare_finish(fresh.job, rc);
	return rc ? rc : renew_replace(c, chain_top(c)->path);
}

static int run_history_steps(struct store *s, const struct chain *c, const struct extents *ex,
			     const struct commit_opts *o, struct commit_result *res)
{
	struct pending_commit pc;
	int rc = history_begin(s, o->message, o->tag, ex->bytes,
			       chain_base(c)->virtual_size, &pc);

	if (rc)
		return rc;
	rc = history_archive(s, chain_top(c), &pc);
	if (rc) {
		history_rollback(s, &pc);
		pending_commit_free(&pc);
		return rc;
	}
	rc = journal_step(s, pc.journal_id, "commit");
	if (!rc)
		journal_crash_point("commit", "commit");
	if (!rc)
		rc = commit_then_renew(s, c, &pc, o->progress);
	if (!rc)
		rc = history_finish(s, &pc, ex);
	res->seq = pc.seq;
	res->size_before = pc.size_before;
	res->size_after = pc.size_after;
	res->time_us = store_now_us();
	pending_commit_free(&pc);
	return rc;
}

static int history_precheck(const struct chain *c, const char *base)
{
	if (c->depth != 2) {
		ovl_error(base, "base has a backing file of its own; history needs a "
			  "standalone base (use --no-history)");
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}

static int commit_history_in(struct store *s, const struct chain *c, struct extents_job **map,
			     const struct commit_opts *o, struct commit_result *res)
{
	struct extents ex;
	int rc = refuse_other_overlays(res->base, chain_top(c)->path);
	if (!rc)
		rc = measure(map, o, &ex, res);
	if (rc)
		return rc;
	res->size_before = res->size_after = chain_base(c)->virtual_size;
	if (!res->skipped && !o->dry_run) {
		rc = ensure_store(s, c, res->base, res->store);
		if (!rc)
			rc = history_head_validate(s);
		if (!rc)
			rc = run_history_steps(s, c, &ex, o, res);
	}
	extents_free(&ex);
	return rc;
}

static int commit_with_history(struct chain *c, struct extents_job **map, const char *path,
			       const struct commit_opts *o, struct commit_result *res)
{
	struct commit_ctx ctx = { c, res->base, map };
	struct store s;
	int rc = history_precheck(c, res->base);

	if (rc)
		return rc;
	res->store = store_dir_for(o->store_dir, res->base);
	rc = open_store(&s, res->store, &ctx, NULL, o->dry_run);
	/* Recovery may have renewed the overlay: read it afresh. */
	if (!rc && s.recovered) {
		chain_free(c);
		rc = open_chain_and_map(path, c, map);
	}
	if (!rc)
		rc = commit_history_in(&s, c, map, o, res);
	store_close(&s);
	return rc;
}

static int commit_locked(const char *path, const struct commit_opts *o,
			 struct commit_result *res)
{
	struct extents_job *map;
	struct chain c;
	int rc = open_chain_and_map(path, &c, &map);

	if (!rc) {
		res->base = realpath(chain_base(&c)->path, NULL);
		if (!res->base) {
			ovl_error_errno(chain_base(&c)->path, errno, "cannot resolve base");
			rc = OVL_EXIT_FAILURE;
		}
	}
	if (!rc && !o->dry_run && tmp_remove_leftovers(chain_top(&c)->path) < 0)
		rc = OVL_EXIT_FAILURE;
	if (!rc)
		rc = o->no_history ? commit_plain(&c, &map, o, res)
				   : commit_with_history(&c, &map, path, o, res);
	if (map)
		extents_job_join(map, NULL);
	if (!rc && (o->dry_run || res->skipped))
		say_plan(&c, o, res);
	if (c.depth)
		chain_free(&c);
	return rc;
}

int commit_overlay(const char *path, const struct commit_opts *o, struct commit_result *res)
{
	int lock;
	int rc = ovl_lock_overlay(path, &lock);

	memset(res, 0, sizeof(*res));
	if (rc)
		return rc;
	rc = commit_locked(path, o, res);
	ovl_lock_release(lock);
	return rc;
}

void commit_result_free(struct commit_result *res)
{
	free(res->base);
	free(res->store);
	res->base = res->store = NULL;
}
