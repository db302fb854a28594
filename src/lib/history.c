#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy.h"
#include "digest.h"
#include "exitcodes.h"
#include "files.h"
#include "history.h"
#include "lock.h"
#include "qemu.h"
#include "report.h"
#include "strbuf.h"

char *image_opts_over(const char *top, const char *base, const char *fmt)
{
	char *t = qemu_opt_escape(top), *b = qemu_opt_escape(base);
	char *opts = xasprintf("driver=qcow2,file.driver=file,file.filename=%s,"
			       "backing.driver=%s,backing.file.driver=file,"
			       "backing.file.filename=%s", t, fmt, b);
	free(t);
	free(b);
	return opts;
}

static int tag_is_free(struct store *s, const char *tag)
{
	int64_t n = 0;

	if (!tag)
		return OVL_EXIT_OK;
	if (db_query_int(&s->db, &n, 0, "SELECT count(*) FROM commits WHERE tag = ?", "s", tag))
		return OVL_EXIT_FAILURE;
	if (n) {
		ovl_error(s->dir, "tag %s is already used in this history", ovl_quote(tag));
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}

static int insert_pending(struct store *s, const char *message, const char *tag,
			  struct pending_commit *pc)
{
	char *name;
	int rc = db_run(&s->db, "INSERT INTO commits(time_us, message, tag, size, file, "
			"size_before, size_after) VALUES (?, ?, ?, ?, '', ?, ?)", "issiii",
			store_now_us(), message, tag, (int64_t)pc->size,
			(int64_t)pc->size_before, (int64_t)pc->size_before);

	if (rc)
		return rc;
	pc->seq = sqlite3_last_insert_rowid(s->db.h);
	name = store_archive_name(pc->seq);
	pc->archive = store_path(s, name);
	rc = db_run(&s->db, "UPDATE commits SET file = ? WHERE seq = ?", "si", name, pc->seq);
	free(name);
	return rc;
}

int history_begin(struct store *s, const char *message, const char *tag,
		  uint64_t size, uint64_t base_size, struct pending_commit *pc)
{
	int rc;

	memset(pc, 0, sizeof(*pc));
	pc->size = size;
	pc->size_before = pc->size_after = base_size;
	rc = tag_is_free(s, tag);
	if (!rc)
		rc = db_begin(&s->db);
	if (!rc)
		rc = insert_pending(s, message, tag, pc);
	if (!rc)
		rc = journal_add(s, "commit", pc->seq, "archive", NULL, &pc->journal_id);
	rc = db_finish(&s->db, rc);
	if (!rc)
		journal_crash_point("commit", "archive");
	return rc;
}

/* Another filesystem: a copy, made under a temporary name. */
static int archive_by_copy(const char *overlay, const char *archive)
{
	char digest[DIGEST_STR_LEN];
	char *tmp = tmp_create_beside(archive);
	int rc;

	if (!tmp)
		return OVL_EXIT_FAILURE;
	rc = copy_file_sparse(overlay, tmp, digest);
	if (!rc)
		rc = rename_noreplace(tmp, archive);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

int history_archive(struct store *s, const char *overlay, struct pending_commit *pc)
{
	(void)s;
	/* The same inode under two names: the overlay is never written
	 * again (commit -d, then a new file is renamed over its path). */
	if (link(overlay, pc->archive) == 0)
		return fsync_parent_dir(pc->archive);
	if (errno != EXDEV && errno != EPERM) {
		ovl_error_errno(pc->archive, errno, "cannot archive %s", ovl_quote(overlay));
		return OVL_EXIT_FAILURE;
	}
	return archive_by_copy(overlay, pc->archive);
}

int history_rollback(struct store *s, struct pending_commit *pc)
{
	int rc;

	if (pc->archive && unlink(pc->archive) < 0 && errno != ENOENT) {
		ovl_error_errno(pc->archive, errno, "cannot remove archive");
		return OVL_EXIT_FAILURE;
	}
	rc = db_begin(&s->db);
	if (!rc)
		rc = db_run(&s->db, "DELETE FROM commits WHERE seq = ? AND pending = 1", "i", pc->seq);
	if (!rc)
		rc = journal_remove(s, pc->journal_id);
	return db_finish(&s->db, rc);
}

static int run_commit(struct store *s, const char *archive, bool progress)
{
	return qemu_commit(image_opts_over(archive, s->base, s->base_format), s->base,
			   "cannot commit into the base", progress);
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Commit while the archive is hashed (and the caller's work runs); hash
 * again if qemu-img touched the file (it repairs a dirty image, for one). */
static int commit_and_digest(struct store *s, struct pending_commit *pc, bool progress,
			     char digest[DIGEST_STR_LEN])
{
	struct stat before, after;
	struct digest_job *job;
	int rc, drc;

	if (stat(pc->archive, &before) < 0) {
		ovl_error_errno(pc->archive, errno, "cannot open archive");
		return OVL_EXIT_FAILURE;
	}
	job = digest_file_start(pc->archive);
	if (pc->beside_commit)
		pc->beside_commit(pc->beside_arg);
	rc = run_commit(s, pc->archive, progress);
	drc = digest_file_join(job, digest);
	if (rc)
		return rc;
	if (drc || stat(pc->archive, &after) < 0 || !same_file_state(&before, &after))
		drc = digest_file(pc->archive, digest);
	return drc;
}

int history_commit_archive(struct store *s, struct pending_commit *pc,
			   uint64_t overlay_size, bool progress)
{
	char digest[DIGEST_STR_LEN];
	int rc = probe_qemu_locks(s->base);

	if (rc)
		return rc;
	rc = commit_and_digest(s, pc, progress, digest);
	if (rc) {
		ovl_error(s->base, "the commit did not finish; the overlay still holds "
			  "all its data, and the next ovl run finishes the commit");
		return rc;
	}
	rc = fsync_path(s->base, false);
	if (overlay_size > pc->size_before)
		pc->size_after = overlay_size;
	if (!rc)
		rc = db_begin(&s->db);
	if (!rc)
		rc = db_run(&s->db, "UPDATE commits SET digest = ?, size_after = ? WHERE seq = ?",
			    "sii", digest, (int64_t)pc->size_after, pc->seq);
	if (!rc)
		rc = journal_step(s, pc->journal_id, "renew");
	rc = db_finish(&s->db, rc);
	if (!rc)
		journal_crash_point("commit", "renew");
	return rc;
}

static int insert_extents(struct store *s, int64_t seq, const struct extents *ex)
{
	sqlite3_stmt *st = db_prepare(&s->db, "INSERT INTO extent_maps(seq, count, map) "
				      "VALUES (?, ?, ?)");
	size_t len;
	void *blob = extents_pack(ex->v, ex->n, &len);
	int rc = st ? db_bind(&s->db, st, "ii", seq, (int64_t)ex->n) : OVL_EXIT_FAILURE;

	if (!rc && sqlite3_bind_blob(st, 3, blob, (int)len, SQLITE_TRANSIENT) != SQLITE_OK)
		rc = db_fail(&s->db, "binding an extent map");
	if (!rc && db_step(&s->db, st) != SQLITE_DONE)
		rc = OVL_EXIT_FAILURE;
	sqlite3_finalize(st);
	free(blob);
	return rc;
}

int history_finish(struct store *s, struct pending_commit *pc, const struct extents *ex)
{
	int rc = db_begin(&s->db);

	if (!rc)
		rc = db_run(&s->db, "DELETE FROM extent_maps WHERE seq = ?", "i", pc->seq);
	if (!rc)
		rc = insert_extents(s, pc->seq, ex);
	/* Commits that were undone can never be reached again. */
	if (!rc)
		rc = db_run(&s->db, "UPDATE commits SET abandoned = 1 WHERE seq > ? AND seq < ? "
			    "AND pending = 0", "ii", s->head, pc->seq);
	if (!rc)
		rc = db_run(&s->db, "UPDATE commits SET pending = 0, time_us = ? WHERE seq = ?",
			    "ii", store_now_us(), pc->seq);
	if (!rc)
		rc = store_set_meta_int(s, "head", pc->seq);
	if (!rc)
		rc = journal_remove(s, pc->journal_id);
	rc = db_finish(&s->db, rc);
	if (!rc)
		s->head = pc->seq;
	return rc;
}

int history_load_pending(struct store *s, const struct journal_entry *e,
			 struct pending_commit *pc)
{
	sqlite3_stmt *st = db_prepare(&s->db, "SELECT file, size, size_before, size_after "
				      "FROM commits WHERE seq = ?");
	int rc = OVL_EXIT_FAILURE;

	memset(pc, 0, sizeof(*pc));
	pc->seq = e->seq;
	pc->journal_id = e->id;
	if (st && db_bind(&s->db, st, "i", e->seq) == OVL_EXIT_OK &&
	    db_step(&s->db, st) == SQLITE_ROW) {
		const char *file = (const char *)sqlite3_column_text(st, 0);
		pc->archive = store_archive_path(s, e->seq, file);
		pc->size = (uint64_t)sqlite3_column_int64(st, 1);
		pc->size_before = (uint64_t)sqlite3_column_int64(st, 2);
		pc->size_after = (uint64_t)sqlite3_column_int64(st, 3);
		rc = pc->archive ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
	} else if (st)
		ovl_error(s->db.path, "journal names commit %" PRId64 ", which is not logged", e->seq);
	sqlite3_finalize(st);
	return rc;
}

void pending_commit_free(struct pending_commit *pc)
{
	free(pc->archive);
	pc->archive = NULL;
}
