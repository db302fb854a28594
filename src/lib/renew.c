#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcodes.h"
#include "extents.h"
#include "files.h"
#include "lock.h"
#include "parse.h"
#include "qemu.h"
#include "recover.h"
#include "renew.h"
#include "siblings.h"
#include "report.h"
#include "strbuf.h"

/* -o for qemu-img create: the qcow2 options that info reports and that a
 * fresh image would otherwise get from qemu-img's defaults. */
static char *creation_options(const struct image *top)
{
	struct strbuf sb = STRBUF_INIT;

	sb_addf(&sb, "cluster_size=%" PRIu64 ",refcount_bits=%d,lazy_refcounts=%s",
		top->cluster_size, top->refcount_bits, top->lazy_refcounts ? "on" : "off");
	if (top->compat) {
		char *compat = qemu_opt_escape(top->compat);
		sb_addf(&sb, ",compat=%s", compat);
		free(compat);
	}
	if (top->extended_l2)
		sb_add(&sb, ",extended_l2=on");
	if (top->compression_type) {
		char *type = qemu_opt_escape(top->compression_type);
		sb_addf(&sb, ",compression_type=%s", type);
		free(type);
	}
	return sb_detach(&sb);
}

/* qemu-img create of the new overlay into our open file FD (named to it as
 * /dev/fd/FD): the temporary name lies in the overlay's directory, which
 * another user may write, and they could swap it for a link to a file of
 * root's between our O_EXCL create and qemu-img opening a name. */
static int run_create(const struct image *top, int fd)
{
	struct argv args = ARGV_INIT;
	struct run_result res;
	int status;

	argv_push(&args, "create");
	argv_push(&args, "-q");
	argv_push(&args, "-f");
	argv_push(&args, "qcow2");
	/* -u: the backing file is already judged; never let create open it. */
	argv_push(&args, "-u");
	argv_push(&args, "-b");
	argv_push(&args, top->backing_name);
	argv_push(&args, "-F");
	argv_push(&args, top->backing_format);
	argv_push(&args, "-o");
	argv_push_owned(&args, creation_options(top));
	argv_push_owned(&args, qemu_fd_path(fd));
	argv_pushf(&args, "%" PRIu64, top->virtual_size);
	status = qemu_img_keep(&args, QEMU_WRITE, &fd, 1, top->path,
			       "cannot create the new overlay", &res);
	run_result_free(&res);
	argv_free(&args);
	return status == 0 ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
}

/* Read back what qemu-img made: a mistake here would silently point the
 * VM at another disk.  Its header is enough (and costs no process). */
static int verify_created(const struct image *top, int fd)
{
	struct qcow2_header h = { 0 };
	bool same = qcow2_header_read(fd, &h) == 0 &&
		    h.size == top->virtual_size &&
		    (1ULL << (h.cluster_bits & 63)) == top->cluster_size &&
		    !!(h.incompatible & (1u << 4)) == top->extended_l2 &&
		    h.backing && strcmp(h.backing, top->backing_name) == 0;

	qcow2_header_free(&h);
	if (!same) {
		ovl_error(top->path, "the new overlay does not match the old one; "
			  "left unchanged");
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}

int renew_create_image(const struct chain *c, const char *overlay_path,
		       const char *new_path, int fd)
{
	const struct image *top = chain_top(c);
	struct stat st;
	int rc;

	if (stat(overlay_path, &st) < 0) {
		ovl_error_errno(overlay_path, errno, "cannot open");
		return OVL_EXIT_FAILURE;
	}
	rc = run_create(top, fd);
	if (!rc)
		rc = verify_created(top, fd);
	if (!rc)
		rc = copy_file_attrs_fd(fd, new_path, &st, overlay_path);
	if (!rc)
		rc = fsync_fd(fd, new_path);
	return rc;
}

/* A replacement overlay: its temporary name and our descriptor of it. */
struct fresh {
	char *tmp;
	int fd;
};

static void discard_fresh(struct fresh *f)
{
	/* unlink never follows a link: if the name was swapped, only the
	 * swapped-in name goes. */
	if (f->tmp && unlink(f->tmp) < 0 && errno != ENOENT)
		ovl_error_errno(f->tmp, errno, "cannot remove temporary file");
	free(f->tmp);
	if (f->fd >= 0)
		close(f->fd);
	f->tmp = NULL;
	f->fd = -1;
}

/* The replacement, made under a temporary name beside the overlay. */
static int prepare_fresh(const struct chain *c, const char *overlay_path, struct fresh *f)
{
	int rc;

	f->fd = tmp_create_beside_fd(overlay_path, &f->tmp);
	if (f->fd < 0)
		return OVL_EXIT_FAILURE;
	rc = renew_create_image(c, overlay_path, f->tmp, f->fd);
	if (rc)
		discard_fresh(f);
	return rc;
}

static int install_fresh(const char *overlay_path, struct fresh *f)
{
	/* A VM may have started while we worked: look once more. */
	int rc = probe_qemu_locks(overlay_path);

	if (!rc)
		rc = rename_replace_checked(f->tmp, overlay_path, f->fd);
	/* After a rename the temporary name is gone (ENOENT, ignored). */
	if (rc)
		discard_fresh(f);
	else {
		free(f->tmp);
		close(f->fd);
	}
	return rc;
}

int renew_replace(const struct chain *c, const char *overlay_path)
{
	struct fresh f;
	int rc = prepare_fresh(c, overlay_path, &f);

	return rc ? rc : install_fresh(overlay_path, &f);
}

struct renew_job {
	pthread_t thread;
	bool threaded;
	const struct chain *c;
	char *overlay;
	struct fresh f;
	int rc;
};

static void *prepare_thread(void *arg)
{
	struct renew_job *job = arg;

	job->rc = prepare_fresh(job->c, job->overlay, &job->f);
	return NULL;
}

struct renew_job *renew_prepare_start(const struct chain *c, const char *overlay_path)
{
	struct renew_job *job = xcalloc(1, sizeof(*job));

	job->c = c;
	job->overlay = xstrdup(overlay_path);
	job->f.fd = -1;
	job->threaded = pthread_create(&job->thread, NULL, prepare_thread, job) == 0;
	if (!job->threaded)   /* no thread: make it now, the result is the same */
		job->rc = prepare_fresh(c, overlay_path, &job->f);
	return job;
}

int renew_prepare_finish(struct renew_job *job, int rc)
{
	if (job->threaded)
		pthread_join(job->thread, NULL);
	if (!rc)
		rc = job->rc;
	if (!rc)
		rc = install_fresh(job->overlay, &job->f);
	else
		discard_fresh(&job->f);
	free(job->overlay);
	free(job);
	return rc;
}

static int probe_chain_locks(const struct chain *c)
{
	int rc = probe_qemu_locks(chain_top(c)->path);

	if (!rc)
		rc = probe_qemu_locks(chain_base(c)->path);
	return rc;
}

/* Refuse to throw away guest data unless told to. */
static int judge_data(const struct chain *c, const struct renew_opts *opts)
{
	struct extents ex;
	char size[32];
	int rc = extents_of_overlay(c, &ex);

	if (rc)
		return rc;
	format_size(ex.bytes, size, sizeof(size));
	if (ex.n && !opts->discard) {
		ovl_error(chain_top(c)->path, "overlay holds data (%s in %zu extent%s); "
			  "commit it first, or use --discard to throw it away",
			  size, ex.n, ex.n == 1 ? "" : "s");
		rc = OVL_EXIT_FAILURE;
	} else if (ex.n)
		ovl_note("%s %s of data in %s", opts->dry_run ? "would discard" : "discarding",
			 size, ovl_quote(chain_top(c)->path));
	extents_free(&ex);
	return rc;
}

static void say_plan(const struct chain *c, bool dry_run)
{
	const struct image *top = chain_top(c);
	char size[32];

	format_size(top->virtual_size, size, sizeof(size));
	ovl_note("%s %s: empty qcow2 overlay of %s on %s (%s)",
		 dry_run ? "would renew" : "renewed", ovl_quote(top->path), size,
		 ovl_quote(top->backing_name), top->backing_format);
}

/* A crashed commit may still own this overlay: finish it first. */
static int recover_first(const char *path, const struct renew_opts *opts, struct chain *c)
{
	bool did_work = false;
	int rc = opts->dry_run ? OVL_EXIT_OK
		: recover_store_of_base(chain_base(c)->path, opts->store_dir, &did_work);

	if (!rc && did_work) {
		chain_free(c);
		rc = chain_open(path, c);
	}
	return rc;
}

static int renew_locked(const char *path, const struct renew_opts *opts)
{
	struct chain c;
	int rc = chain_open(path, &c);

	if (!rc)
		rc = recover_first(path, opts, &c);
	if (rc) {
		if (c.depth)
			chain_free(&c);
		return rc;
	}
	if (!opts->dry_run && tmp_remove_leftovers(chain_top(&c)->path) < 0)
		rc = OVL_EXIT_FAILURE;
	if (!rc)
		rc = probe_chain_locks(&c);
	if (!rc)
		rc = judge_data(&c, opts);
	if (!rc && !opts->dry_run)
		rc = renew_replace(&c, chain_top(&c)->path);
	if (!rc)
		say_plan(&c, opts->dry_run);
	chain_free(&c);
	return rc;
}

int renew_overlay(const char *path, const struct renew_opts *opts)
{
	int lock;
	int rc = ovl_lock_overlay(path, &lock);

	if (rc)
		return rc;
	rc = renew_locked(path, opts);
	ovl_lock_release(lock);
	return rc;
}
