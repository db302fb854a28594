#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive-check.h"
#include "digest.h"
#include "exitcodes.h"
#include "files.h"
#include "hist.h"
#include "history.h"
#include "journal.h"
#include "jsonout.h"
#include "lineage.h"
#include "log.h"
#include "parse.h"
#include "progress.h"
#include "qemu.h"
#include "report.h"
#include "strbuf.h"

struct prune_plan {
	int64_t fold_to;        /* new oldest state; == s->oldest: no folding */
	size_t n_folded, n_abandoned, n_kept;
	uint64_t reclaimed;     /* bytes of archives that go */
};

static uint64_t file_bytes(struct store *s, const char *file)
{
	char *path = store_path(s, file ? file : "");
	struct stat st;
	uint64_t bytes = stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;

	free(path);
	return bytes;
}

/* The kept commits are rows not abandoned; fold the oldest run the policy
 * does not keep, up to head. */
static void make_plan(struct store *s, const struct retention_policy *keep,
		      const struct commit_row *rows, size_t n, struct prune_plan *pp)
{
	int64_t *times = xcalloc(n ? n : 1, sizeof(*times));
	size_t *idx = xcalloc(n ? n : 1, sizeof(*idx));
	bool *kept = xcalloc(n ? n : 1, sizeof(*kept));
	size_t m = 0;

	memset(pp, 0, sizeof(*pp));
	pp->fold_to = s->oldest;
	for (size_t i = 0; i < n; i++) {
		if (rows[i].abandoned) {
			pp->n_abandoned++;
			pp->reclaimed += file_bytes(s, rows[i].file);
		} else {
			times[m] = rows[i].time_us;
			idx[m++] = i;
		}
	}
	retention_apply(keep, times, m, kept);
	for (size_t k = 0; k < m && !kept[k] && rows[idx[k]].seq <= s->head; k++) {
		pp->fold_to = rows[idx[k]].seq;
		pp->n_folded++;
		pp->reclaimed += file_bytes(s, rows[idx[k]].file);
	}
	pp->n_kept = m - pp->n_folded;
	free(times);
	free(idx);
	free(kept);
}

/*
 * Before a fold: the pristine copy and every archive in (oldest, fold_to]
 * judged, their digests matched.  The pristine's digest only when
 * PRISTINE_DIGEST_HOLDS: a fold a crash interrupted has written part of it.
 */
static int check_fold_sources(struct store *s, int64_t fold_to, bool pristine_digest_holds)
{
	struct lineage l;
	int rc = store_pristine_check(s, pristine_digest_holds ? PRISTINE_DIGEST : PRISTINE_MID_FOLD);

	if (!rc)
		rc = lineage_load(s, &l);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < l.n && l.c[i].seq <= fold_to; i++)
		rc = store_archive_check(s, l.c[i].seq);
	lineage_free(&l);
	return rc;
}

/* The bytes of the archives in (oldest, fold_to]: the fold's work. */
static uint64_t fold_bytes(struct store *s, const struct lineage *l, int64_t fold_to)
{
	uint64_t total = 0;

	for (size_t i = 0; i < l->n && l->c[i].seq <= fold_to; i++) {
		char *archive = lineage_archive(s, l->c[i].seq);
		total += progress_file_bytes(archive);
		free(archive);
	}
	return total;
}

/* Commit every kept archive in (oldest, fold_to] into the pristine copy,
 * oldest first: running it again after a crash converges the same way.
 * With PROGRESS, one bar over them all, each archive's share moved by its
 * qemu-img commit's own progress. */
static int fold(struct store *s, int64_t fold_to, bool progress)
{
	struct progress pg;
	struct lineage l;
	int rc = lineage_load(s, &l);

	if (rc)
		return rc;
	progress_start(&pg, progress, fold_bytes(s, &l, fold_to));
	for (size_t i = 0; !rc && i < l.n && l.c[i].seq <= fold_to; i++) {
		char *archive = lineage_archive(s, l.c[i].seq);
		progress_span(&pg, progress_file_bytes(archive));
		if (qemu_commit(image_opts_over(archive, s->pristine, s->base_format), archive,
				"cannot fold into the pristine copy", &pg))
			rc = OVL_EXIT_FAILURE;
		progress_set_fraction(&pg, 1.0);
		free(archive);
	}
	if (!rc)
		rc = fsync_path(s->pristine, false);
	progress_finish(&pg, rc == OVL_EXIT_OK);
	lineage_free(&l);
	return rc;
}

/* One transaction: the pristine copy is now state fold_to. */
static int log_fold(struct store *s, int64_t fold_to, int64_t id)
{
	char digest[DIGEST_STR_LEN];
	int64_t size = 0;
	int rc = digest_file(s->pristine, digest);

	if (!rc && fold_to != s->oldest)
		rc = db_query_int(&s->db, &size, 0, "SELECT size_after FROM commits WHERE seq = ?",
				  "i", fold_to);
	if (!rc)
		rc = db_begin(&s->db);
	if (!rc && fold_to != s->oldest) {
		rc = store_set_meta(s, "pristine_digest", digest);
		if (!rc)
			rc = store_set_meta_int(s, "pristine_size", size);
		if (!rc)
			rc = store_set_meta_int(s, "oldest", fold_to);
		if (!rc)
			rc = db_run(&s->db, "DELETE FROM commits WHERE seq <= ? AND pending = 0", "i", fold_to);
	}
	if (!rc)
		rc = db_run(&s->db, "DELETE FROM commits WHERE abandoned = 1", NULL);
	if (!rc)
		rc = journal_step(s, id, "cleanup");
	rc = db_finish(&s->db, rc);
	return rc ? rc : store_load_meta(s);
}

static bool named_by_a_commit(struct store *s, const char *name)
{
	char *file = xasprintf(STORE_COMMITS_DIR "/%s", name);
	int64_t n = 1;

	db_query_int(&s->db, &n, 1, "SELECT count(*) FROM commits WHERE file = ?", "s", file);
	free(file);
	return n > 0;
}

/* Delete archive files no commit names any more. */
static int sweep_archives(struct store *s)
{
	char *dir = store_path(s, STORE_COMMITS_DIR);
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = OVL_EXIT_OK;

	if (!d) {
		ovl_error_errno(dir, errno, "cannot read directory");
		free(dir);
		return OVL_EXIT_FAILURE;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && !named_by_a_commit(s, de->d_name) &&
		    unlinkat(dirfd(d), de->d_name, 0) < 0) {
			ovl_error_errno(dir, errno, "cannot remove %s", ovl_quote(de->d_name));
			rc = OVL_EXIT_FAILURE;
		}
	closedir(d);
	if (!rc)
		rc = fsync_path(dir, true);
	free(dir);
	return rc;
}

static int finish(struct store *s, int64_t id)
{
	int rc = sweep_archives(s);

	if (!rc)
		rc = journal_remove(s, id);
	return rc;
}

static int run_prune(struct store *s, int64_t fold_to, bool progress)
{
	int64_t id;
	int rc = fold_to != s->oldest ? check_fold_sources(s, fold_to, true) : OVL_EXIT_OK;

	if (!rc)
		rc = db_begin(&s->db);

	if (!rc)
		rc = journal_add(s, "prune", fold_to, "fold", NULL, &id);
	rc = db_finish(&s->db, rc);
	if (rc)
		return rc;
	journal_crash_point("prune", "fold");
	if (fold_to != s->oldest)
		rc = fold(s, fold_to, progress);
	if (!rc)
		rc = log_fold(s, fold_to, id);
	if (!rc)
		journal_crash_point("prune", "cleanup");
	if (!rc)
		rc = finish(s, id);
	return rc;
}

static void report(const struct store *s, const struct prune_plan *pp, bool dry_run,
		   enum output_format out)
{
	char bytes[32];

	if (out == OUTPUT_JSON) {
		struct json_writer w;
		jw_init(&w, stdout);
		jw_object_begin(&w);
		jw_field_bool(&w, "dry_run", dry_run);
		jw_field_uint(&w, "folded", pp->n_folded);
		jw_field_uint(&w, "abandoned_removed", pp->n_abandoned);
		jw_field_uint(&w, "kept", pp->n_kept);
		jw_field_int(&w, "oldest", pp->fold_to);
		jw_field_uint(&w, "reclaimed", pp->reclaimed);
		jw_object_end(&w);
		jw_finish(&w);
		return;
	}
	ovl_note("%s %zu commit%s into the pristine copy (oldest state now %" PRId64 "), "
		 "%s %zu abandoned, %zu kept; %s %s", dry_run ? "would fold" : "folded",
		 pp->n_folded, pp->n_folded == 1 ? "" : "s", pp->fold_to,
		 dry_run ? "would remove" : "removed", pp->n_abandoned, pp->n_kept,
		 format_size(pp->reclaimed, bytes, sizeof(bytes)),
		 dry_run ? "would be reclaimed" : "reclaimed");
	(void)s;
}

int hist_prune(struct store *s, const struct retention_policy *keep, bool dry_run,
	       enum output_format out, bool progress)
{
	struct commit_row *rows;
	struct prune_plan pp;
	size_t n;
	int rc = log_list(s, &rows, &n);

	if (rc)
		return rc;
	make_plan(s, keep, rows, n, &pp);
	commit_rows_free(rows, n);
	if (!dry_run && (pp.n_folded || pp.n_abandoned))
		rc = run_prune(s, pp.fold_to, progress);
	if (!rc)
		report(s, &pp, dry_run, out);
	return rc;
}

int prune_recover(struct store *s, const struct journal_entry *e)
{
	int rc = OVL_EXIT_OK;

	ovl_note("finishing the prune to state %" PRId64 ", interrupted at step %s", e->seq, e->step);
	if (strcmp(e->step, "fold") == 0) {
		if (e->seq != s->oldest)
			rc = check_fold_sources(s, e->seq, false);
		if (!rc && e->seq != s->oldest)
			rc = fold(s, e->seq, false);
		if (!rc)
			rc = log_fold(s, e->seq, e->id);
	}
	if (!rc)
		rc = finish(s, e->id);
	return rc;
}
