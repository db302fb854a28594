#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive-check.h"
#include "copy.h"
#include "digest.h"
#include "exitcodes.h"
#include "files.h"
#include "history.h"
#include "lock.h"
#include "progress.h"
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

/*
 * A copy of the overlay's data in a new file of the store's own (0600,
 * ours), judged before it is named: from here on only the copy is used.
 * Used when the overlay is someone else's (they could change the inode
 * the store keeps) or on another filesystem.
 */
static int archive_by_copy(int src, const struct image *top, const char *archive)
{
	char digest[DIGEST_STR_LEN];
	char *tmp;
	int fd = tmp_create_beside_fd(archive, &tmp);
	int rc;

	if (fd < 0)
		return OVL_EXIT_FAILURE;
	rc = copy_fd_sparse(src, top->path, fd, tmp, digest);
	close(fd);
	if (!rc)
		rc = store_image_judge(tmp, "qcow2", top->virtual_size, "archive");
	if (!rc)
		rc = rename_noreplace(tmp, archive);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

/*
 * May the store keep the overlay's own inode?  Only when nobody but us can
 * change it: ours, not writable by group or others, and no other name
 * (another link would let its holder's directory rights keep a way in).
 */
static bool only_ours(const struct stat *st)
{
	return st->st_uid == geteuid() && !(st->st_mode & (S_IWGRP | S_IWOTH)) &&
	       st->st_nlink == 1;
}

/* A second name in the store for the inode FD holds (the one judged), not
 * for whatever the overlay's name leads to now.  0, or -1 with errno. */
static int link_fd(int fd, const char *archive)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, AT_FDCWD, archive, AT_SYMLINK_FOLLOW);
}

/* The overlay, opened without following a link or blocking, and still the
 * file chain_open judged. */
static int open_judged(const struct image *top, struct stat *st)
{
	int fd = open(top->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || fstat(fd, st) < 0) {
		ovl_error_errno(top->path, errno, "cannot open to archive");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode) || st->st_dev != top->dev || st->st_ino != top->ino) {
		ovl_error(top->path, "the overlay was replaced since it was read: refused");
		close(fd);
		return -1;
	}
	return fd;
}

int history_archive(struct store *s, const struct image *top, struct pending_commit *pc)
{
	struct stat st;
	int fd = open_judged(top, &st);
	int rc = OVL_EXIT_OK;

	(void)s;
	if (fd < 0)
		return OVL_EXIT_FAILURE;
	/* The same inode under two names: the overlay is never written
	 * again (commit -d, then a new file is renamed over its path). */
	if (only_ours(&st) && link_fd(fd, pc->archive) == 0)
		rc = fsync_parent_dir(pc->archive);
	else if (only_ours(&st) && errno != EXDEV && errno != EPERM && errno != ENOENT) {
		ovl_error_errno(pc->archive, errno, "cannot archive %s", ovl_quote(top->path));
		rc = OVL_EXIT_FAILURE;
	} else
		rc = archive_by_copy(fd, top, pc->archive);
	close(fd);
	return rc;
}

/*
 * Give a rolled-back commit's number back: AUTOINCREMENT keeps the highest
 * number ever handed out in sqlite_sequence, which is what keeps a pruned
 * or abandoned commit's number from coming back; only when that highest
 * number is this pending commit's (it always is: the store is locked from
 * history_begin on) is it moved back one, so the next commit gets it.
 */
static int release_number(struct store *s, int64_t seq)
{
	return db_run(&s->db, "UPDATE sqlite_sequence SET seq = ? "
		      "WHERE name = 'commits' AND seq = ?", "ii", seq - 1, seq);
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
		rc = release_number(s, pc->seq);
	if (!rc)
		rc = journal_remove(s, pc->journal_id);
	return db_finish(&s->db, rc);
}

/*
 * Commit the archive into the base, which qemu-img reaches through our
 * descriptor (/dev/fd/N): the base's directory may be another user's, who
 * could swap its name for a link to a file of root's as qemu-img starts.
 * Opened without following a link or blocking, and only a regular file.
 */
static int run_commit(struct store *s, const char *archive, bool progress)
{
	struct progress pg;
	int fd = open(s->base, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	char *target;
	int rc;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ovl_error_errno(s->base, fd < 0 ? errno : EINVAL, "cannot open the base to commit");
		if (fd >= 0)
			close(fd);
		return OVL_EXIT_FAILURE;
	}
	target = qemu_fd_path(fd);
	progress_start(&pg, progress, 0);
	rc = qemu_commit_keep(image_opts_over(archive, target, s->base_format), fd, s->base,
			      "cannot commit into the base", &pg);
	progress_finish(&pg, rc == 0);
	free(target);
	close(fd);
	return rc;
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
