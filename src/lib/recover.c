#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "archive-check.h"
#include "chain.h"
#include "digest.h"
#include "exitcodes.h"
#include "extents.h"
#include "files.h"
#include "hist.h"
#include "history-check.h"
#include "history.h"
#include "image.h"
#include "journal.h"
#include "lock.h"
#include "recover.h"
#include "renew.h"
#include "report.h"
#include "strbuf.h"
#include "undo.h"

/* Is the file at the overlay's path still the one that was archived? */
static bool overlay_is_archived_one(struct store *s, const struct pending_commit *pc)
{
	struct stat o, a;
	char digest[DIGEST_STR_LEN];
	char *logged = NULL;
	bool same;

	if (stat(s->overlay, &o) < 0 || stat(pc->archive, &a) < 0)
		return false;
	if (o.st_dev == a.st_dev && o.st_ino == a.st_ino)
		return true;
	/* Archived by copy: the same content means not renewed yet. */
	if (digest_file(s->overlay, digest))
		return false;
	db_query_text(&s->db, &logged, "SELECT digest FROM commits WHERE seq = ?", "i", pc->seq);
	same = logged && strcmp(logged, digest) == 0;
	free(logged);
	return same;
}

static int renew_archived_overlay(struct store *s, const struct pending_commit *pc)
{
	struct chain c;
	int rc;

	if (!overlay_is_archived_one(s, pc))
		return OVL_EXIT_OK;   /* already renewed, or written since */
	rc = chain_open(s->overlay, &c);
	if (!rc)
		rc = probe_qemu_locks(s->overlay);
	if (!rc)
		rc = renew_replace(&c, s->overlay);
	if (c.depth)
		chain_free(&c);
	return rc;
}

static int archive_size(const char *archive, uint64_t *size)
{
	struct image img;
	int rc = image_read(archive, "qcow2", &img);

	if (!rc)
		*size = img.virtual_size;
	image_free(&img);
	return rc;
}

static int finish_commit(struct store *s, struct pending_commit *pc, bool from_commit)
{
	struct extents ex = { 0 };
	uint64_t vsize = 0;
	int rc = OVL_EXIT_OK;

	/* Judged (and its digest matched, once logged) before its data goes
	 * into the base or its map into the log. */
	rc = store_archive_check(s, pc->seq);
	if (!rc && from_commit) {
		rc = archive_size(pc->archive, &vsize);
		if (!rc)
			rc = history_commit_archive(s, pc, vsize, false);
	}
	if (!rc)
		rc = renew_archived_overlay(s, pc);
	if (!rc)
		rc = extents_of_file(pc->archive, &ex);
	if (!rc)
		rc = history_finish(s, pc, &ex);
	extents_free(&ex);
	return rc;
}

static int recover_commit(struct store *s, const struct journal_entry *e)
{
	struct pending_commit pc;
	int rc = history_load_pending(s, e, &pc);

	if (rc)
		return rc;
	if (strcmp(e->step, "archive") == 0) {
		ovl_note("rolling back commit %lld, interrupted before the base was written",
			 (long long)e->seq);
		rc = history_rollback(s, &pc);
	} else if (strcmp(e->step, "commit") == 0 || strcmp(e->step, "renew") == 0) {
		ovl_note("finishing commit %lld, interrupted at step %s",
			 (long long)e->seq, e->step);
		rc = finish_commit(s, &pc, strcmp(e->step, "commit") == 0);
	} else {
		ovl_error(s->db.path, "journal has an unknown commit step %s", ovl_quote(e->step));
		rc = OVL_EXIT_FAILURE;
	}
	pending_commit_free(&pc);
	return rc;
}

/* A journal row is acted on only once it is one this ovl writes. */
static int recover_one(struct store *s, const struct journal_entry *e)
{
	struct damage d;

	damage_fail_init(&d, s);
	if (journal_entry_validate(s, e, &d))
		return OVL_EXIT_FAILURE;
	if (strcmp(e->op, "commit") == 0)
		return recover_commit(s, e);
	if (strcmp(e->op, "undo") == 0)
		return undo_recover(s, e);
	if (strcmp(e->op, "prune") == 0)
		return prune_recover(s, e);
	ovl_error(s->db.path, "journal holds an operation this ovl does not know (%s); "
		  "left untouched", ovl_quote(e->op));
	return OVL_EXIT_FAILURE;
}

/* Ours in the store, and ours beside the base (a replay's rebuilt base)
 * and the overlay (a renew's new overlay). */
int store_remove_temps(struct store *s)
{
	char *commits = store_path(s, STORE_COMMITS_DIR);
	int rc = OVL_EXIT_OK;

	if (tmp_remove_all_in(s->root) < 0 || tmp_remove_all_in(commits) < 0 ||
	    tmp_remove_leftovers(s->base) < 0 || tmp_remove_leftovers(s->overlay) < 0)
		rc = OVL_EXIT_FAILURE;
	free(commits);
	return rc;
}

int store_recover(struct store *s, bool *did_work)
{
	struct journal_entry e;
	bool found = true;
	int rc = store_remove_temps(s);

	*did_work = false;
	while (!rc && found) {
		rc = journal_oldest(s, &e, &found);
		if (!rc && found) {
			*did_work = true;
			rc = recover_one(s, &e);
		}
		journal_entry_free(&e);
	}
	if (!rc && *did_work)
		rc = store_load_meta(s);
	return rc;
}

int recover_store_of_base(const char *base_path, const char *store_opt, bool *did_work)
{
	char *base = realpath(base_path, NULL);
	char *dir = base ? store_dir_for(store_opt, base) : NULL;
	/* The caller holds the overlay's lock. */
	struct store_op op = { .mode = STORE_WRITE, .optional = true };
	struct store s;
	int rc = OVL_EXIT_OK;

	*did_work = false;
	if (dir) {
		rc = store_open_op(&s, dir, &op);
		*did_work = s.recovered;
		store_close(&s);
	}
	free(dir);
	free(base);
	return rc;
}
