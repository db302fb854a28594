#include "config.h"

#include <errno.h>
#include <guestfs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "argv.h"
#include "exitcodes.h"
#include "guestfs-view.h"
#include "nbd.h"
#include "report.h"
#include "strbuf.h"

/* Opening a long chain of archives takes a while; a hung qemu-nbd not. */
#define SERVE_TIMEOUT_MS 60000
/* A qemu-nbd whose clients are gone exits at once. */
#define STOP_WAIT_MS 2000

/* Names per lstatnslist call: its reply must stay well inside the
 * library's 4 MiB message limit (about 180 bytes a name). */
#define STAT_BATCH 1000
#define STAT_BATCH_BYTES (512 * 1024)

/* ------------------------------------------------------------ export */

static void nap_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* qemu-nbd's complaint, first line, without its name and without the
 * (possibly huge) spec it quotes back: "Could not open '/x': why". */
static char *server_complaint(const char *err, const char *spec)
{
	struct strbuf sb = STRBUF_INIT;
	const char *line = err && *err ? err : "qemu-nbd exited";
	char *opening = xasprintf("Failed to blk_new_open '%s': ", spec);
	const char *at;
	size_t len;

	if (strncmp(line, "qemu-nbd: ", 10) == 0)
		line += 10;
	if (strncmp(line, opening, strlen(opening)) == 0)
		line += strlen(opening);
	len = strcspn(line, "\n");
	at = strstr(line, spec);
	if (at && (size_t)(at - line) < len) {
		sb_addn(&sb, line, (size_t)(at - line));
		sb_add(&sb, "(the image spec)");
		at += strlen(spec);
		sb_addn(&sb, at, len - (size_t)(at - line));
	} else {
		sb_addn(&sb, line, len);
	}
	free(opening);
	return sb_detach(&sb);
}

static int wait_serving(struct gv_export *e, const char *spec, const char *subject,
			const char *what)
{
	long long deadline = now_ms() + SERVE_TIMEOUT_MS;

	while (now_ms() < deadline) {
		/* qemu-nbd listens before its image is open: only a finished
		 * handshake means it serves. */
		if (access(e->sock, F_OK) == 0 &&
		    nbd_try_connect(&e->hold, e->sock, subject,
				    (unsigned)(deadline - now_ms())) == 0)
			return OVL_EXIT_OK;
		if (run_poll(&e->child) >= 0) {
			char *err = NULL, *why;
			run_finish(&e->child, 0, &err);
			why = server_complaint(err, spec);
			ovl_error(subject, "%s: cannot serve the image: %s", what, why);
			free(why);
			free(err);
			return OVL_EXIT_FAILURE;
		}
		nap_ms(10);
	}
	ovl_error(subject, "%s: qemu-nbd did not start serving in time", what);
	return OVL_EXIT_FAILURE;
}

int gv_export_start(struct gv_export *e, const char *sock, const char *spec,
		    const char *subject, const char *what)
{
	struct argv args = ARGV_INIT;
	int err, rc;

	memset(e, 0, sizeof(*e));
	e->child.pid = -1;
	e->child.err_fd = -1;
	e->hold.fd = -1;
	/* Not --persistent: it exits when its last client hangs up, so one
	 * left by a killed run does not hold the store's files for ever.
	 * Our own connection keeps it up meanwhile: libguestfs connects more
	 * than once (it sizes the export for its overlay first). */
	argv_push(&args, "qemu-nbd");
	argv_push(&args, "--read-only");
	argv_push(&args, "--shared=8");
	argv_push(&args, "--socket");
	argv_push(&args, sock);
	argv_push(&args, spec);
	err = run_start(argv_vec(&args), &e->child);
	argv_free(&args);
	if (err) {
		ovl_error_errno(subject, err, "%s: cannot run qemu-nbd", what);
		return OVL_EXIT_FAILURE;
	}
	e->sock = xstrdup(sock);
	rc = wait_serving(e, spec, subject, what);
	if (rc)
		gv_export_stop(e);
	return rc;
}

void gv_export_stop(struct gv_export *e)
{
	/* Our hang-up ends it (libguestfs is gone by now); it serves
	 * read-only, so killing one that lingers loses nothing. */
	nbd_close(&e->hold);
	if (e->child.pid > 0 || e->child.err_fd >= 0)
		run_finish(&e->child, STOP_WAIT_MS, NULL);
	if (e->sock)
		unlink(e->sock);
	free(e->sock);
	e->sock = NULL;
}

/* --------------------------------------------------------- appliance */

/* One disk being read, in a thread of its own: nothing here reports (the
 * message ring of report.c is per thread); the first failure is kept in
 * d->error for the caller. */
struct reader {
	const struct gv_read_opts *o;
	struct gv_disk *d;
	guestfs_h *g;
};

static int failed(struct reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Keep "WHAT: MESSAGE" as the disk's error (the first one wins). */
static int failed(struct reader *r, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!r->d->error)
		r->d->error = xasprintf("%s: %s", r->o->what, msg ? msg : fmt);
	free(msg);
	return OVL_EXIT_FAILURE;
}

/* The first line of the last libguestfs error: it adds a paragraph of
 * debugging advice to some, and a final period. */
static char *last_error(guestfs_h *g)
{
	const char *why = g ? guestfs_last_error(g) : NULL;
	size_t len;

	if (!why || !*why)
		return xstrdup("libguestfs failed");
	len = strcspn(why, "\n");
	if (len > 1 && why[len - 1] == '.')
		len--;
	return xasprintf("%.*s", (int)len, why);
}

/* DOING failed in libguestfs: keep "DOING: WHY". */
static int gfail(struct reader *r, const char *doing)
{
	char *why = last_error(r->g);

	failed(r, "%s: %s", doing, why);
	free(why);
	return OVL_EXIT_FAILURE;
}

/* A handle with the export as its only drive, read-only, in r->g; errors
 * are ours to report (no "libguestfs: error:" lines of its own). */
static int open_handle(struct reader *r, bool force_tcg)
{
	char *server = xasprintf("unix:%s", r->o->sock);
	char *servers[] = { server, NULL };
	char *tcg[] = { "force_tcg", NULL };
	int rc = OVL_EXIT_OK;

	r->g = guestfs_create();
	if (!r->g) {
		free(server);
		return failed(r, "cannot create a libguestfs handle: %s", strerror(errno));
	}
	guestfs_set_error_handler(r->g, NULL, NULL);
	if (force_tcg && guestfs_set_backend_settings(r->g, tcg) == -1)
		rc = gfail(r, "cannot set the libguestfs backend");
	if (!rc && guestfs_add_drive_opts(r->g, "",
					  GUESTFS_ADD_DRIVE_OPTS_FORMAT, "raw",
					  GUESTFS_ADD_DRIVE_OPTS_READONLY, 1,
					  GUESTFS_ADD_DRIVE_OPTS_PROTOCOL, "nbd",
					  GUESTFS_ADD_DRIVE_OPTS_SERVER, servers,
					  -1) == -1)
		rc = gfail(r, "cannot add the disk to libguestfs");
	free(server);
	return rc;
}

static void close_handle(struct reader *r)
{
	if (r->g)
		guestfs_close(r->g);
	r->g = NULL;
}

/* A running appliance in r->g.  KVM that cannot run it (a nested or odd
 * host) is worth one more try under TCG. */
static int launch(struct reader *r)
{
	static const char *cannot = "cannot start the libguestfs appliance "
				    "(LIBGUESTFS_DEBUG=1 shows why)";
	char *first, *doing;
	int rc = open_handle(r, false);

	if (rc || guestfs_launch(r->g) == 0)
		return rc;
	if (!r->o->retry_tcg)
		return gfail(r, cannot);
	first = last_error(r->g);
	close_handle(r);
	rc = open_handle(r, true);
	if (!rc && guestfs_launch(r->g) == -1) {
		doing = xasprintf("%s: with KVM: %s; with TCG", cannot, first);
		rc = gfail(r, doing);
		free(doing);
	}
	free(first);
	return rc;
}

/* ------------------------------------------------------------ listing */

/* The whole of FILE, NUL-terminated; *len without the terminator. */
static int slurp(struct reader *r, const char *file, char **buf, size_t *len)
{
	struct strbuf sb = STRBUF_INIT;
	char chunk[65536];
	FILE *f = fopen(file, "rb");
	size_t n;
	int e;

	if (!f)
		return failed(r, "cannot read the file list: %s", strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sb_addn(&sb, chunk, n);
	e = ferror(f) ? errno : 0;
	fclose(f);
	if (e) {
		sb_free(&sb);
		return failed(r, "cannot read the file list: %s", strerror(e));
	}
	*len = sb.len;
	*buf = sb_detach(&sb);
	return OVL_EXIT_OK;
}

/* find0's NUL-separated names ("etc/fstab") as entries "/etc/fstab";
 * the paths live in one block, f->paths. */
static void entries_from_names(struct gv_fs *f, const char *names, size_t len)
{
	size_t count = 0, at = 0;
	char *out;

	for (size_t k = 0; k < len; k++)
		count += names[k] == '\0';
	count += len && names[len - 1] != '\0';
	f->paths = out = xmalloc(len + 2 * count + 1);
	f->v = xcalloc(count ? count : 1, sizeof(*f->v));
	while (at < len) {
		const char *name = names + at;
		size_t n = strnlen(name, len - at);
		at += n + 1;
		if (n == 0)
			continue;
		f->v[f->n++].path = out;
		if (name[0] != '/')
			*out++ = '/';
		memcpy(out, name, n);
		out += n;
		*out++ = '\0';
	}
}

/* Where the last component of PATH starts. */
static size_t base_of(const char *path)
{
	return (size_t)(strrchr(path, '/') - path) + 1;
}

/* By directory, then by name: each directory's entries in one run. */
static int by_dir(const void *pa, const void *pb)
{
	const struct gv_entry *a = pa, *b = pb;
	size_t da = base_of(a->path), db = base_of(b->path);
	int c = memcmp(a->path, b->path, da < db ? da : db);

	if (c)
		return c;
	if (da != db)
		return da < db ? -1 : 1;
	return strcmp(a->path + da, b->path + db);
}

static int by_path(const void *pa, const void *pb)
{
	const struct gv_entry *a = pa, *b = pb;
	return strcmp(a->path, b->path);
}

static void fill_entry(struct gv_entry *e, const struct guestfs_statns *st)
{
	e->mode = st->st_mode;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->size = st->st_size;
	e->rdev = st->st_rdev;
	e->mtime_sec = st->st_mtime_sec;
	e->mtime_nsec = st->st_mtime_nsec;
	e->ctime_sec = st->st_ctime_sec;
	e->ctime_nsec = st->st_ctime_nsec;
}

/* lstat V[0..n), all in one directory, with one call.  An entry that is
 * not there (it cannot go: the filesystem is read-only) gets mode -1. */
static int stat_batch(struct reader *r, struct gv_entry *v, size_t n, char **names)
{
	size_t base = base_of(v[0].path);
	char *dir = base == 1 ? xstrdup("/") : xasprintf("%.*s", (int)(base - 1), v[0].path);
	struct guestfs_statns_list *st;
	int rc = OVL_EXIT_OK;

	for (size_t k = 0; k < n; k++)
		names[k] = v[k].path + base;
	names[n] = NULL;
	st = guestfs_lstatnslist(r->g, dir, names);
	if (!st) {
		char *doing = xasprintf("cannot read the files in %s", dir);
		rc = gfail(r, doing);
		free(doing);
	} else if (st->len != n) {
		rc = failed(r, "libguestfs returned %u entries for %zu names in %s",
			    st->len, n, dir);
	} else {
		for (size_t k = 0; k < n; k++) {
			if (st->val[k].st_ino == -1)
				v[k].mode = -1;
			else
				fill_entry(&v[k], &st->val[k]);
		}
	}
	if (st)
		guestfs_free_statns_list(st);
	free(dir);
	return rc;
}

/* How many entries from V[0] go into one call: same directory, and
 * within the batch limits. */
static size_t batch_length(const struct gv_entry *v, size_t left)
{
	size_t base = base_of(v[0].path), bytes = 0, n = 0;

	while (n < left && n < STAT_BATCH && bytes < STAT_BATCH_BYTES &&
	       base_of(v[n].path) == base && memcmp(v[n].path, v[0].path, base) == 0) {
		bytes += strlen(v[n].path + base) + 8;
		n++;
	}
	return n;
}

static int stat_entries(struct reader *r, struct gv_fs *f)
{
	char **names = xcalloc(STAT_BATCH + 1, sizeof(*names));
	size_t k = 0, kept = 0;
	int rc = OVL_EXIT_OK;

	qsort(f->v, f->n, sizeof(*f->v), by_dir);
	while (!rc && k < f->n) {
		size_t n = batch_length(&f->v[k], f->n - k);
		rc = stat_batch(r, &f->v[k], n, names);
		k += n;
	}
	free(names);
	for (k = 0; k < f->n; k++)
		if (f->v[k].mode != -1)
			f->v[kept++] = f->v[k];
	f->n = kept;
	qsort(f->v, f->n, sizeof(*f->v), by_path);
	return rc;
}

static int list_files(struct reader *r, struct gv_fs *f)
{
	char *names = NULL, *doing;
	size_t len = 0;
	int rc;

	if (guestfs_find0(r->g, "/", r->o->scratch) == -1) {
		unlink(r->o->scratch);
		doing = xasprintf("cannot list the files of %s", f->device);
		rc = gfail(r, doing);
		free(doing);
		return rc;
	}
	rc = slurp(r, r->o->scratch, &names, &len);
	unlink(r->o->scratch);
	if (rc)
		return rc;
	entries_from_names(f, names, len);
	free(names);
	return stat_entries(r, f);
}

/* Mount, list, unmount.  A filesystem that does not mount (encrypted,
 * damaged, of a kind the appliance lacks) is not an error. */
static int read_fs(struct reader *r, struct gv_fs *f)
{
	char *doing;
	int rc;

	if (guestfs_mount_ro(r->g, f->device, "/") == -1) {
		f->why = last_error(r->g);
		return OVL_EXIT_OK;
	}
	rc = list_files(r, f);
	if (guestfs_umount_all(r->g) == -1 && !rc) {
		doing = xasprintf("cannot unmount %s", f->device);
		rc = gfail(r, doing);
		free(doing);
	}
	f->readable = rc == OVL_EXIT_OK;
	return rc;
}

static bool worth_mounting(const char *device, const char *type)
{
	return *type && strcmp(type, "swap") != 0 && strcmp(type, "unknown") != 0 &&
	       strncmp(device, "btrfsvol:", 9) != 0;
}

static void free_strings(char **v)
{
	if (!v)
		return;
	for (size_t k = 0; v[k]; k++)
		free(v[k]);
	free(v);
}

static int read_filesystems(struct reader *r)
{
	char **fs = guestfs_list_filesystems(r->g);
	struct gv_disk *d = r->d;
	size_t count = 0;
	int rc = OVL_EXIT_OK;

	if (!fs)
		return gfail(r, "cannot list the filesystems");
	while (fs[count])
		count++;
	d->fs = xcalloc(count / 2 + 1, sizeof(*d->fs));
	for (size_t k = 0; !rc && k + 1 < count; k += 2) {
		struct gv_fs *f;
		if (!worth_mounting(fs[k], fs[k + 1]))
			continue;
		f = &d->fs[d->n++];
		f->device = xstrdup(fs[k]);
		f->type = xstrdup(fs[k + 1]);
		rc = read_fs(r, f);
	}
	free_strings(fs);
	return rc;
}

int gv_read_disk(const struct gv_read_opts *o, struct gv_disk *d)
{
	struct reader r = { o, d, NULL };
	int rc;

	memset(d, 0, sizeof(*d));
	rc = launch(&r);
	if (!rc)
		rc = read_filesystems(&r);
	if (r.g && !rc && guestfs_shutdown(r.g) == -1)
		rc = gfail(&r, "the libguestfs appliance failed");
	close_handle(&r);
	return rc;
}

void gv_disk_free(struct gv_disk *d)
{
	for (size_t k = 0; k < d->n; k++) {
		struct gv_fs *f = &d->fs[k];
		free(f->device);
		free(f->type);
		free(f->why);
		free(f->v);
		free(f->paths);
	}
	free(d->fs);
	free(d->error);
	memset(d, 0, sizeof(*d));
}

const struct gv_fs *gv_disk_find(const struct gv_disk *d, const char *device)
{
	for (size_t k = 0; k < d->n; k++)
		if (strcmp(d->fs[k].device, device) == 0)
			return &d->fs[k];
	return NULL;
}

bool gv_entry_changed(const struct gv_entry *a, const struct gv_entry *b)
{
	if (a->mode != b->mode || a->uid != b->uid || a->gid != b->gid)
		return true;
	if (S_ISDIR(a->mode))
		return false;
	return a->size != b->size || a->rdev != b->rdev ||
	       a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec ||
	       a->ctime_sec != b->ctime_sec || a->ctime_nsec != b->ctime_nsec;
}
