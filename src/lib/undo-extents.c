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
#include "exitcodes.h"
#include "lineage.h"
#include "nbdserver.h"
#include "progress.h"
#include "qemu.h"
#include "report.h"
#include "strbuf.h"
#include "undo-exec.h"

#define COPY_BUF (4u << 20)

int resize_image(const char *path, const char *format, uint64_t size)
{
	struct argv args = ARGV_INIT;
	struct run_result res;
	int status;

	argv_push(&args, "resize");
	argv_push(&args, "-q");
	argv_push(&args, "-f");
	argv_push(&args, format);
	argv_push(&args, "--shrink");
	argv_push_owned(&args, qemu_path_arg(path));
	argv_pushf(&args, "%" PRIu64, size);
	status = qemu_img(&args, QEMU_WRITE, path, "cannot resize", &res);
	run_result_free(&res);
	argv_free(&args);
	return status == 0 ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
}

static char *plain_opts(const char *path, const char *format)
{
	char *file = qemu_opt_escape(path);
	char *opts = xasprintf("driver=%s,file.driver=file,file.filename=%s", format, file);

	free(file);
	return opts;
}

static int start_export(struct nbd_server *srv, const char *path, const char *format,
			bool read_only)
{
	char *opts = plain_opts(path, format);
	int rc = nbd_server_start(srv, opts, path, read_only);

	free(opts);
	return rc;
}

static int read_archive(int fd, const char *path, uint64_t offset, void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ovl_error_errno(path, n == 0 ? EIO : errno, "cannot read archived data");
			return OVL_EXIT_FAILURE;
		}
		done += (size_t)n;
	}
	return OVL_EXIT_OK;
}

struct copier {
	struct progress pg;     /* bytes copied of the plan's */
	struct store *s;
	struct nbd *base;
	struct nbd *pristine;
	unsigned char *buf;
	int64_t open_seq;       /* archive currently open */
	int fd;
	char *path;
};

static int open_archive(struct copier *cp, int64_t seq)
{
	if (cp->open_seq == seq)
		return OVL_EXIT_OK;
	if (cp->fd >= 0)
		close(cp->fd);
	free(cp->path);
	cp->open_seq = seq;
	cp->path = lineage_archive(cp->s, seq);
	cp->fd = cp->path ? open(cp->path, O_RDONLY | O_CLOEXEC) : -1;
	if (cp->fd < 0) {
		ovl_error_errno(cp->path ? cp->path : cp->s->dir, errno,
				"cannot open the archive of commit %" PRId64, seq);
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}

static int copy_piece(struct copier *cp, const struct piece *pc)
{
	int rc = OVL_EXIT_OK;

	if (pc->src == FROM_ZERO) {
		rc = nbd_write_zeroes(cp->base, pc->start, pc->length);
		progress_advance(&cp->pg, pc->length);
		return rc;
	}
	if (pc->src == FROM_ARCHIVE)
		rc = open_archive(cp, pc->seq);
	for (uint64_t done = 0; !rc && done < pc->length; done += COPY_BUF) {
		size_t n = pc->length - done < COPY_BUF ? (size_t)(pc->length - done) : COPY_BUF;
		rc = pc->src == FROM_ARCHIVE
			? read_archive(cp->fd, cp->path, pc->offset + done, cp->buf, n)
			: nbd_read(cp->pristine, pc->start + done, cp->buf, n);
		if (!rc)
			rc = nbd_write(cp->base, pc->start + done, cp->buf, n);
		progress_advance(&cp->pg, n);
	}
	return rc;
}

/* Archive pieces grouped by archive and read in file order; writes go
 * wherever the guest offsets say. */
static int by_source(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;

	if (x->src != y->src)
		return x->src < y->src ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The end of the last piece read from archive SEQ at order[i..]. */
static uint64_t archive_need(const struct piece *order, size_t n, size_t i, size_t *next)
{
	uint64_t need = 0;
	int64_t seq = order[i].seq;

	for (; i < n && order[i].src == FROM_ARCHIVE && order[i].seq == seq; i++)
		if (order[i].offset + order[i].length > need)
			need = order[i].offset + order[i].length;
	*next = i;
	return need;
}

/* Judge archive SEQ and match its digest, check it holds NEED bytes,
 * advise its pieces. */
static int advise_archive(struct store *s, const struct piece *order, size_t from, size_t to,
			  uint64_t need)
{
	int rc = store_archive_check_raw(s, order[from].seq);
	char *path = rc ? NULL : lineage_archive(s, order[from].seq);
	int fd = path ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
	struct stat st;

	if (rc)
		return rc;
	if (fd < 0 || fstat(fd, &st) < 0) {
		ovl_error_errno(path ? path : s->dir, path ? errno : ENOENT,
				"archive of commit %" PRId64 " is missing", order[from].seq);
		rc = OVL_EXIT_FAILURE;
	} else if ((uint64_t)st.st_size < need) {
		ovl_error(path, "archive of commit %" PRId64 " is damaged (shorter than "
			  "its logged data)", order[from].seq);
		rc = OVL_EXIT_FAILURE;
	}
	for (size_t i = from; !rc && i < to; i++)
		posix_fadvise(fd, (off_t)order[i].offset, (off_t)order[i].length, POSIX_FADV_WILLNEED);
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

static void advise_pristine(struct store *s, const struct piece *order, size_t n)
{
	int fd;

	if (strcmp(s->base_format, "raw") != 0 || !s->pristine)
		return;   /* a qcow2 pristine copy is read through qemu-nbd */
	fd = open(s->pristine, O_RDONLY | O_CLOEXEC);
	for (size_t i = 0; fd >= 0 && i < n; i++)
		if (order[i].src == FROM_PRISTINE)
			posix_fadvise(fd, (off_t)order[i].start, (off_t)order[i].length,
				      POSIX_FADV_WILLNEED);
	if (fd >= 0)
		close(fd);
}

/* Archive pieces grouped by archive, each group in file order. */
static struct piece *pieces_by_source(const struct plan *p)
{
	struct piece *order = xmalloc((p->n ? p->n : 1) * sizeof(*order));

	memcpy(order, p->v, p->n * sizeof(*order));
	qsort(order, p->n, sizeof(*order), by_source);
	return order;
}

/*
 * Before anything is written: every archive the plan reads exists and is
 * long enough, and the kernel is asked for every range about to be read.
 * The reads of a short undo are small and scattered over many archives;
 * queued together now, they complete while the overlay is renewed and
 * qemu-nbd starts, instead of one after the other later.
 */
/*
 * Ask the kernel for the whole of every archive the plan reads: their
 * digests are checked one after the other next, and with all the reads
 * queued at once they come from the disk together instead of one file at
 * a time.  A hint only: errors are the checks' to report.
 */
static void prefetch_archives(struct store *s, const struct piece *order, size_t n)
{
	for (size_t i = 0; i < n && order[i].src == FROM_ARCHIVE; i++) {
		if (i && order[i].seq == order[i - 1].seq)
			continue;
		char *path = lineage_archive(s, order[i].seq);
		int fd = path ? open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) : -1;
		if (fd >= 0) {
			posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
			close(fd);
		}
		free(path);
	}
}

int undo_prepare_sources(struct store *s, const struct plan *p)
{
	struct piece *order = pieces_by_source(p);
	int rc = OVL_EXIT_OK;
	size_t i = 0, next;

	prefetch_archives(s, order, p->n);
	while (!rc && i < p->n && order[i].src == FROM_ARCHIVE) {
		uint64_t need = archive_need(order, p->n, i, &next);
		rc = advise_archive(s, order, i, next, need);
		i = next;
	}
	/* The pristine copy is judged, not digested: its digest costs a read
	 * of the whole base image (1 GiB of data in bench/undo made a 1-step
	 * undo 4x slower) where the plan reads a few ranges of it. */
	if (!rc && p->needs_pristine)
		rc = store_pristine_check(s, PRISTINE_JUDGE);
	if (!rc)
		advise_pristine(s, order, p->n);
	free(order);
	return rc;
}

static int copy_pieces(struct copier *cp, const struct plan *p)
{
	struct piece *order = pieces_by_source(p);
	int rc = OVL_EXIT_OK;

	for (size_t i = 0; !rc && i < p->n; i++) {
		rc = copy_piece(cp, &order[i]);
	}
	if (!rc)
		rc = nbd_flush(cp->base);
	free(order);
	return rc;
}

static int copy_with_servers(struct store *s, const struct plan *p, bool progress)
{
	struct nbd_server base, pristine = { .child = { -1, -1 } };
	struct copier cp = { .s = s, .base = &base.conn, .pristine = &pristine.conn,
			     .fd = -1 };
	int rc = start_export(&base, s->base, s->base_format, false);

	if (rc)
		return rc;
	progress_start(&cp.pg, progress, p->bytes);
	if (p->needs_pristine)
		rc = start_export(&pristine, s->pristine, s->base_format, true);
	if (!rc) {
		cp.buf = xmalloc(COPY_BUF);
		rc = copy_pieces(&cp, p);
		progress_finish(&cp.pg, rc == OVL_EXIT_OK);
	}
	if (p->needs_pristine && pristine.dir)
		nbd_server_stop(&pristine);
	if (nbd_server_stop(&base) && !rc)
		rc = OVL_EXIT_FAILURE;
	if (cp.fd >= 0)
		close(cp.fd);
	free(cp.path);
	free(cp.buf);
	return rc;
}

int undo_by_extents(struct store *s, const struct plan *p, bool progress)
{
	int rc = OVL_EXIT_OK;

	/* Grow first, so every piece lies inside the export. */
	if (p->target_size > p->from_size)
		rc = resize_image(s->base, s->base_format, p->target_size);
	if (!rc && p->n)
		rc = copy_with_servers(s, p, progress);
	if (!rc && p->target_size < p->from_size)
		rc = resize_image(s->base, s->base_format, p->target_size);
	return rc;
}
