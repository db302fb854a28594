#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive-check.h"
#include "chain.h"
#include "digest.h"
#include "exitcodes.h"
#include "lineage.h"
#include "report.h"
#include "siblings.h"

/* qcow2 incompatible feature bits (docs/interop/qcow2.txt). */
#define QCOW2_INCOMPAT_CORRUPT (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)

/* The one form of every refusal here: "'FILE': WHAT WHY: refused". */
static int refused(const char *path, const char *what, const char *why)
{
	ovl_error(path, "%s %s: refused", what, why);
	return OVL_EXIT_FAILURE;
}

/* A regular file (checked before anything opens it: a FIFO or device
 * planted in the store must not block or be read). */
static int judge_file_kind(const char *path, const char *what)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		ovl_error_errno(path, errno, "%s is missing", what);
		return OVL_EXIT_FAILURE;
	}
	if (!S_ISREG(st.st_mode))
		return refused(path, what, "is not a regular file");
	return OVL_EXIT_OK;
}

/* What qemu-img info says, judged as chain_open judges an operand; an
 * archive's backing name is stale and ignored (it is always opened with
 * its backing named explicitly), the pristine copy must have none. */
static int judge_info(const struct image *img, const char *what, uint64_t lo, uint64_t hi)
{
	char why[160];

	if (img->has_data_file)
		return refused(img->path, what, "has a qcow2 external data file");
	if (img->encrypted)
		return refused(img->path, what, "is encrypted");
	if (img->corrupt_flag)
		return refused(img->path, what, "is marked corrupt in its header");
	if (img->virtual_size < lo || img->virtual_size > hi) {
		snprintf(why, sizeof(why), "has a virtual size of %" PRIu64 " bytes, not the "
			 "logged %" PRIu64, img->virtual_size, img->virtual_size < lo ? lo : hi);
		return refused(img->path, what, why);
	}
	return OVL_EXIT_OK;
}

/* Read as FORMAT, judged, virtual size in [lo, hi], qemu-img check clean. */
static int judge_image(const char *path, const char *format, const char *what,
		       uint64_t lo, uint64_t hi, bool backing_allowed)
{
	struct image img;
	int rc = judge_file_kind(path, what);

	if (rc)
		return rc;
	if (image_read(path, format, &img))
		return OVL_EXIT_FAILURE;   /* reported, naming the file */
	rc = judge_info(&img, what, lo, hi);
	if (!rc && !backing_allowed && img.backing_name)
		rc = refused(path, what, "names a backing file");
	image_free(&img);
	if (!rc && strcmp(format, "qcow2") == 0)
		rc = image_check_file(path);   /* reported, naming the file */
	return rc;
}

int store_image_judge(const char *path, const char *format, uint64_t expected_size,
		      const char *what)
{
	return judge_image(path, format, what, expected_size,
			   expected_size ? expected_size : UINT64_MAX, true);
}

/* PATH's digest is LOGGED (a string of our kind). */
static int match_digest(const char *path, const char *logged, const char *what)
{
	char digest[DIGEST_STR_LEN];

	if (!logged || strncmp(logged, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) != 0)
		return refused(path, what, "has no digest of a kind this ovl checks in the log");
	if (digest_file(path, digest))
		return OVL_EXIT_FAILURE;
	if (strcmp(digest, logged) != 0)
		return refused(path, what, "does not match its logged digest");
	return OVL_EXIT_OK;
}

/* What the log says of commit SEQ's archive. */
struct archive_row {
	char *digest;           /* NULL: not logged yet */
	int64_t pending;
	int64_t size_before, size_after;
};

static int load_row(struct store *s, int64_t seq, struct archive_row *r)
{
	int rc = db_query_text(&s->db, &r->digest, "SELECT digest FROM commits WHERE seq = ?",
			       "i", seq);

	if (!rc)
		rc = db_query_int(&s->db, &r->pending, 0, "SELECT pending FROM commits "
				  "WHERE seq = ?", "i", seq);
	if (!rc)
		rc = db_query_int(&s->db, &r->size_before, 0, "SELECT size_before FROM "
				  "commits WHERE seq = ?", "i", seq);
	if (!rc)
		rc = db_query_int(&s->db, &r->size_after, 0, "SELECT size_after FROM commits "
				  "WHERE seq = ?", "i", seq);
	if (!rc && (r->size_after <= 0 || r->size_before <= 0)) {
		ovl_error(s->dir, "commit %" PRId64 " has no logged sizes in history.db", seq);
		rc = OVL_EXIT_FAILURE;
	}
	return rc;
}

/* The header, judged in-process (no qemu-img run): qcow2, no external
 * data file, not encrypted, not marked corrupt, virtual size in [lo, hi]. */
static int judge_header(const char *path, const char *what, uint64_t lo, uint64_t hi)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	unsigned char crypt[4] = { 0 };
	struct qcow2_header h = { 0 };
	int rc = OVL_EXIT_OK;

	if (fd < 0) {
		ovl_error_errno(path, errno, "%s cannot be opened", what);
		return OVL_EXIT_FAILURE;
	}
	if (qcow2_header_read(fd, &h) < 0 || pread(fd, crypt, 4, 32) != 4)
		rc = refused(path, what, "is not a qcow2 image");
	else if (h.incompatible & QCOW2_INCOMPAT_DATA_FILE)
		rc = refused(path, what, "has a qcow2 external data file");
	else if (h.incompatible & QCOW2_INCOMPAT_CORRUPT)
		rc = refused(path, what, "is marked corrupt in its header");
	else if (crypt[0] | crypt[1] | crypt[2] | crypt[3])
		rc = refused(path, what, "is encrypted");
	else if (h.size < lo || h.size > hi)
		rc = refused(path, what, "has a virtual size other than the logged one");
	qcow2_header_free(&h);
	close(fd);
	return rc;
}

/*
 * An overlay no larger than the base it was committed into, or exactly
 * the size it grew the base to: anything else would resize the base.
 * OPENED_BY_QEMU: judged by qemu-img info and check, else by its header.
 */
static int judge_archive(const char *path, const struct archive_row *r, bool opened_by_qemu)
{
	uint64_t hi = (uint64_t)r->size_after;
	uint64_t lo = r->size_after > r->size_before ? hi : 1;

	/* Before its commit step ended, the size it grows the base to is not
	 * logged yet: any size is one the commit may have. */
	if (!r->digest)
		hi = UINT64_MAX;
	if (!opened_by_qemu)
		return judge_header(path, "archive", lo, hi);
	return judge_image(path, "qcow2", "archive", lo, hi, true);
}

static int check_archive(struct store *s, int64_t seq, bool opened_by_qemu)
{
	struct archive_row r = { 0 };
	char *path = lineage_archive(s, seq);
	int rc = OVL_EXIT_FAILURE;

	if (!path)
		ovl_error(s->dir, "commit %" PRId64 " names no archive in history.db", seq);
	else
		rc = load_row(s, seq, &r);
	/* The digest first: it reads no header and runs no qemu-img, and a
	 * file changed since it was logged is refused as such. */
	if (!rc && (r.digest || !r.pending))
		rc = judge_file_kind(path, "archive") ? OVL_EXIT_FAILURE
						      : match_digest(path, r.digest, "archive");
	if (!rc)
		rc = judge_archive(path, &r, opened_by_qemu);
	free(r.digest);
	free(path);
	return rc;
}

int store_archive_check(struct store *s, int64_t seq)
{
	return check_archive(s, seq, true);
}

int store_archive_check_raw(struct store *s, int64_t seq)
{
	return check_archive(s, seq, false);
}

int store_pristine_check(struct store *s, enum pristine_check how)
{
	char *digest = NULL;
	int64_t size = 0;
	int rc;

	if (!s->pristine) {
		ovl_error(s->dir, "history has no pristine copy yet (no commit was made)");
		return OVL_EXIT_FAILURE;
	}
	rc = db_query_text(&s->db, &digest, "SELECT value FROM meta WHERE key = "
			   "'pristine_digest'", NULL);
	if (!rc)
		rc = db_query_int(&s->db, &size, 0, "SELECT value FROM meta WHERE key = "
				  "'pristine_size'", NULL);
	if (!rc)
		rc = judge_file_kind(s->pristine, "pristine copy");
	if (!rc && how == PRISTINE_DIGEST)
		rc = match_digest(s->pristine, digest, "pristine copy");
	if (!rc)
		rc = judge_image(s->pristine, s->base_format, "pristine copy", (uint64_t)size,
				 how == PRISTINE_MID_FOLD ? UINT64_MAX : (uint64_t)size, false);
	free(digest);
	return rc;
}
