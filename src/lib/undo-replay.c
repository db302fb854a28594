#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy.h"
#include "exitcodes.h"
#include "files.h"
#include "history.h"
#include "image.h"
#include "lineage.h"
#include "lock.h"
#include "qemu.h"
#include "report.h"
#include "strbuf.h"
#include "undo-exec.h"

/* The archive exists, starts like a qcow2 image, and qemu-img check finds
 * no corruption in it. */
static int check_one_archive(struct store *s, int64_t seq)
{
	char *path = lineage_archive(s, seq);
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	unsigned char magic[4];
	int rc = OVL_EXIT_OK;

	if (fd < 0) {
		ovl_error_errno(path ? path : s->dir, path ? errno : ENOENT,
				"archive of commit %" PRId64 " is missing", seq);
		rc = OVL_EXIT_FAILURE;
	} else if (pread(fd, magic, 4, 0) != 4 || memcmp(magic, "QFI\xfb", 4) != 0) {
		ovl_error(path, "archive of commit %" PRId64 " is damaged (not qcow2)", seq);
		rc = OVL_EXIT_FAILURE;
	} else
		rc = image_check_file(path);
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

int check_replay_archives(struct store *s, const struct lineage *l, int64_t target)
{
	int rc = OVL_EXIT_OK;

	for (size_t i = 0; !rc && i < l->n && l->c[i].seq <= target; i++)
		rc = check_one_archive(s, l->c[i].seq);
	return rc;
}

static int commit_archive_into(struct store *s, int64_t seq, const char *target,
			       bool progress)
{
	char *archive = lineage_archive(s, seq);
	int rc = qemu_commit(image_opts_over(archive, target, s->base_format), archive,
			     "cannot replay the archived commit", progress);

	free(archive);
	return rc ? OVL_EXIT_FAILURE : OVL_EXIT_OK;
}

static int build_state(struct store *s, const struct lineage *l, int64_t target,
		       const char *tmp, bool progress)
{
	char digest[DIGEST_STR_LEN];
	int rc = copy_file_sparse(s->pristine, tmp, digest);

	/* Commits grow the image as they did the first time, so the result
	 * has the state's size too. */
	for (size_t i = 0; !rc && i < l->n && l->c[i].seq <= target; i++)
		rc = commit_archive_into(s, l->c[i].seq, tmp, progress);
	return rc;
}

int undo_by_replay(struct store *s, const struct lineage *l, int64_t target, bool progress)
{
	char *tmp = tmp_create_beside(s->base);
	struct stat st;
	int rc;

	if (!tmp)
		return OVL_EXIT_FAILURE;
	rc = stat(s->base, &st) < 0 ? (ovl_error_errno(s->base, errno, "cannot open"),
				       OVL_EXIT_FAILURE) : OVL_EXIT_OK;
	if (!rc)
		rc = build_state(s, l, target, tmp, progress);
	if (!rc)
		rc = copy_file_attrs(tmp, &st, s->base);
	if (!rc)
		rc = fsync_path(tmp, false);
	if (!rc)
		rc = probe_qemu_locks(s->base);
	if (!rc)
		rc = rename_replace(tmp, s->base);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}
