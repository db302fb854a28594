#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive-check.h"
#include "copy.h"
#include "exitcodes.h"
#include "files.h"
#include "history.h"
#include "image.h"
#include "lineage.h"
#include "lock.h"
#include "progress.h"
#include "qemu.h"
#include "report.h"
#include "strbuf.h"
#include "undo-exec.h"

/* Before anything is written: the pristine copy and every archive up to
 * TARGET are judged and match their logged digests. */
int check_replay_archives(struct store *s, const struct lineage *l, int64_t target)
{
	int rc = store_pristine_check(s, PRISTINE_DIGEST);

	for (size_t i = 0; !rc && i < l->n && l->c[i].seq <= target; i++)
		rc = store_archive_check(s, l->c[i].seq);
	return rc;
}

/* The replay's work for the progress bar: the pristine copy's bytes, then
 * each archive's up to TARGET. */
static uint64_t replay_bytes(struct store *s, const struct lineage *l, int64_t target)
{
	uint64_t total = progress_file_bytes(s->pristine);

	for (size_t i = 0; i < l->n && l->c[i].seq <= target; i++) {
		char *archive = lineage_archive(s, l->c[i].seq);
		total += progress_file_bytes(archive);
		free(archive);
	}
	return total;
}

/* Commit archive SEQ into the state being built, which qemu-img reaches
 * through our descriptor FD, never through its name beside the base.  Its
 * bytes are the part of PG that qemu-img's progress moves. */
static int commit_archive_into(struct store *s, int64_t seq, int fd, struct progress *pg)
{
	char *archive = lineage_archive(s, seq);
	char *target = qemu_fd_path(fd);
	int rc;

	progress_span(pg, progress_file_bytes(archive));
	rc = archive ? qemu_commit_keep(image_opts_over(archive, target, s->base_format), fd,
					archive, "cannot replay the archived commit", pg)
		     : OVL_EXIT_FAILURE;
	progress_set_fraction(pg, 1.0);

	if (!archive)
		ovl_error(s->dir, "commit %" PRId64 " names no archive in history.db", seq);
	free(target);
	free(archive);
	return rc ? OVL_EXIT_FAILURE : OVL_EXIT_OK;
}

static int build_state(struct store *s, const struct lineage *l, int64_t target,
		       int fd, const char *tmp, struct progress *pg)
{
	char digest[DIGEST_STR_LEN];
	int src = open(s->pristine, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int rc;

	if (src < 0) {
		ovl_error_errno(s->pristine, errno, "cannot open to copy");
		return OVL_EXIT_FAILURE;
	}
	rc = copy_fd_sparse(src, s->pristine, fd, tmp, digest);
	close(src);
	progress_advance(pg, progress_file_bytes(s->pristine));
	/* Commits grow the image as they did the first time, so the result
	 * has the state's size too. */
	for (size_t i = 0; !rc && i < l->n && l->c[i].seq <= target; i++)
		rc = commit_archive_into(s, l->c[i].seq, fd, pg);
	return rc;
}

/*
 * The state is built in a temporary file beside the base (a directory
 * another user may write): created O_EXCL, then reached only through its
 * descriptor (the copy, qemu-img's /dev/fd/N, owner and mode, fsync), and
 * after the rename the base's name must hold that inode.
 */
int undo_by_replay(struct store *s, const struct lineage *l, int64_t target, bool progress)
{
	char *tmp;
	int fd = tmp_create_beside_fd(s->base, &tmp);
	struct stat st;
	int rc;

	if (fd < 0)
		return OVL_EXIT_FAILURE;
	rc = stat(s->base, &st) < 0 ? (ovl_error_errno(s->base, errno, "cannot open"),
				       OVL_EXIT_FAILURE) : OVL_EXIT_OK;
	if (!rc) {
		struct progress pg;
		progress_start(&pg, progress, replay_bytes(s, l, target));
		rc = build_state(s, l, target, fd, tmp, &pg);
		progress_finish(&pg, rc == OVL_EXIT_OK);
	}
	if (!rc)
		rc = copy_file_attrs_fd(fd, tmp, &st, s->base);
	if (!rc)
		rc = fsync_fd(fd, tmp);
	if (!rc)
		rc = probe_qemu_locks(s->base);
	if (!rc)
		rc = rename_replace_checked(tmp, s->base, fd);
	if (rc)
		unlink(tmp);
	close(fd);
	free(tmp);
	return rc;
}
