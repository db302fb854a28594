#include "config.h"

#ifdef HAVE_LIBGUESTFS

#include <errno.h>
#include <guestfs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "argv.h"
#include "exitcodes.h"
#include "guestfs-view.h"
#include "report.h"
#include "strbuf.h"

/* Opening a long chain of archives takes a while; a hung qemu-nbd not. */
#define SERVE_TIMEOUT_MS 60000

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

/* qemu-nbd's complaint, first line, without its name and without the
 * (possibly huge) spec it quotes back. */
static char *server_complaint(const char *err, const char *spec)
{
	struct strbuf sb = STRBUF_INIT;
	const char *line = err && *err ? err : "qemu-nbd exited";
	size_t len = strcspn(line, "\n");
	const char *at;

	if (strncmp(line, "qemu-nbd: ", 10) == 0) {
		line += 10;
		len -= 10;
	}
	at = strstr(line, spec);
	if (at && (size_t)(at - line) < len) {
		sb_addn(&sb, line, (size_t)(at - line));
		sb_add(&sb, "(the state's image spec)");
		at += strlen(spec);
		sb_addn(&sb, at, len - (size_t)(at - line));
	} else {
		sb_addn(&sb, line, len);
	}
	return sb_detach(&sb);
}

static int wait_listening(struct gv_export *e, const char *spec, const char *subject,
			  const char *what)
{
	for (long waited = 0; waited < SERVE_TIMEOUT_MS; waited += 10) {
		if (access(e->sock, F_OK) == 0)
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
	/* Persistent: libguestfs connects more than once (it sizes the
	 * export for its overlay before the appliance opens it). */
	argv_push(&args, "qemu-nbd");
	argv_push(&args, "--read-only");
	argv_push(&args, "--persistent");
	argv_push(&args, "--shared=4");
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
	rc = wait_listening(e, spec, subject, what);
	if (rc)
		gv_export_stop(e);
	return rc;
}

void gv_export_stop(struct gv_export *e)
{
	/* It serves read-only: killing it loses nothing. */
	if (e->child.pid > 0 || e->child.err_fd >= 0)
		run_finish(&e->child, 0, NULL);
	if (e->sock)
		unlink(e->sock);
	free(e->sock);
	e->sock = NULL;
}

/* --------------------------------------------------------- appliance */

static int gfail(const struct gv_read_opts *o, guestfs_h *g, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Report the last libguestfs error of G as "WHAT: DOING: WHY". */
static int gfail(const struct gv_read_opts *o, guestfs_h *g, const char *fmt, ...)
{
	const char *why = g ? guestfs_last_error(g) : NULL;
	va_list ap;
	char *doing;

	va_start(ap, fmt);
	if (vasprintf(&doing, fmt, ap) < 0)
		doing = NULL;
	va_end(ap);
	ovl_error(o->subject, "%s: %s: %s", o->what, doing ? doing : fmt,
		  why && *why ? why : "libguestfs failed");
	free(doing);
	return OVL_EXIT_FAILURE;
}

/* A handle with the export as its only drive, read-only; errors are ours
 * to report (no "libguestfs: error:" lines of its own). */
static guestfs_h *open_handle(const struct gv_read_opts *o, bool force_tcg)
{
	char *server = xasprintf("unix:%s", o->sock);
	char *servers[] = { server, NULL };
	char *tcg[] = { "force_tcg", NULL };
	guestfs_h *g = guestfs_create();
	int rc = 0;

	if (!g) {
		ovl_error_errno(o->subject, errno, "%s: cannot create a libguestfs handle", o->what);
		free(server);
		return NULL;
	}
	guestfs_set_error_handler(g, NULL, NULL);
	if (force_tcg && guestfs_set_backend_settings(g, tcg) == -1)
		rc = gfail(o, g, "cannot set the libguestfs backend");
	if (!rc && guestfs_add_drive_opts(g, "",
					  GUESTFS_ADD_DRIVE_OPTS_FORMAT, "raw",
					  GUESTFS_ADD_DRIVE_OPTS_READONLY, 1,
					  GUESTFS_ADD_DRIVE_OPTS_PROTOCOL, "nbd",
					  GUESTFS_ADD_DRIVE_OPTS_SERVER, servers,
					  -1) == -1)
		rc = gfail(o, g, "cannot add the disk to libguestfs");
	free(server);
	if (rc) {
		guestfs_close(g);
		return NULL;
	}
	return g;
}

/* A running appliance, or NULL (reported).  KVM that cannot run it (a
 * nested or odd host) is worth one more try under TCG. */
static guestfs_h *launch(const struct gv_read_opts *o)
{
	guestfs_h *g = open_handle(o, false);
	char *first;

	if (!g || guestfs_launch(g) == 0)
		return g;
	if (!o->retry_tcg) {
		gfail(o, g, "cannot start the libguestfs appliance");
		guestfs_close(g);
		return NULL;
	}
	first = xstrdup(guestfs_last_error(g) ? guestfs_last_error(g) : "");
	guestfs_close(g);
	g = open_handle(o, true);
	if (g && guestfs_launch(g) == -1) {
		gfail(o, g, "cannot start the libguestfs appliance (with KVM: %s; "
		      "then with TCG)", *first ? first : "failed");
		guestfs_close(g);
		g = NULL;
	}
	free(first);
	return g;
}

/* ------------------------------------------------------------ listing */

/* The whole of FILE, NUL-terminated; *len without the terminator. */
static int slurp(const struct gv_read_opts *o, const char *file, char **buf, size_t *len)
{
	struct strbuf sb = STRBUF_INIT;
	char chunk[65536];
	FILE *f = fopen(file, "rb");
	size_t n;

	if (!f) {
		ovl_error_errno(file, errno, "%s: cannot read the file list", o->what);
		return OVL_EXIT_FAILURE;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sb_addn(&sb, chunk, n);
	if (ferror(f)) {
		ovl_error_errno(file, errno, "%s: cannot read the file list", o->what);
		fclose(f);
		sb_free(&sb);
		return OVL_EXIT_FAILURE;
	}
	fclose(f);
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

/* lstat V[0..n), all in one directory, with one call.  An entry gone
 * meanwhile (it cannot be: the filesystem is read-only) gets mode -1. */
static int stat_batch(guestfs_h *g, const struct gv_read_opts *o, struct gv_entry *v,
		      size_t n, char **names)
{
	size_t base = base_of(v[0].path);
	char *dir = base == 1 ? xstrdup("/") : xasprintf("%.*s", (int)(base - 1), v[0].path);
	struct guestfs_statns_list *st;
	int rc = OVL_EXIT_OK;

	for (size_t k = 0; k < n; k++)
		names[k] = v[k].path + base;
	names[n] = NULL;
	st = guestfs_lstatnslist(g, dir, names);
	if (!st) {
		rc = gfail(o, g, "cannot read the files in %s", ovl_quote(dir));
	} else if (st->len != n) {
		ovl_error(o->subject, "%s: libguestfs returned %u entries for %zu names in %s",
			  o->what, st->len, n, ovl_quote(dir));
		rc = OVL_EXIT_FAILURE;
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

static int stat_entries(guestfs_h *g, const struct gv_read_opts *o, struct gv_fs *f)
{
	char **names = xcalloc(STAT_BATCH + 1, sizeof(*names));
	size_t k = 0, kept = 0;
	int rc = OVL_EXIT_OK;

	qsort(f->v, f->n, sizeof(*f->v), by_dir);
	while (!rc && k < f->n) {
		size_t n = batch_length(&f->v[k], f->n - k);
		rc = stat_batch(g, o, &f->v[k], n, names);
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

static int list_files(guestfs_h *g, const struct gv_read_opts *o, struct gv_fs *f)
{
	char *names = NULL;
	size_t len = 0;
	int rc;

	if (guestfs_find0(g, "/", o->scratch) == -1) {
		unlink(o->scratch);
		return gfail(o, g, "cannot list the files of %s", f->device);
	}
	rc = slurp(o, o->scratch, &names, &len);
	unlink(o->scratch);
	if (rc)
		return rc;
	entries_from_names(f, names, len);
	free(names);
	return stat_entries(g, o, f);
}

/* Mount, list, unmount.  A filesystem that does not mount (encrypted,
 * damaged, of a kind the appliance lacks) is not an error. */
static int read_fs(guestfs_h *g, const struct gv_read_opts *o, struct gv_fs *f)
{
	int rc;

	if (guestfs_mount_ro(g, f->device, "/") == -1) {
		const char *why = guestfs_last_error(g);
		f->why = xstrdup(why && *why ? why : "it does not mount");
		return OVL_EXIT_OK;
	}
	rc = list_files(g, o, f);
	if (guestfs_umount_all(g) == -1 && !rc)
		rc = gfail(o, g, "cannot unmount %s", f->device);
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

static int read_filesystems(guestfs_h *g, const struct gv_read_opts *o, struct gv_disk *d)
{
	char **fs = guestfs_list_filesystems(g);
	size_t count = 0;
	int rc = OVL_EXIT_OK;

	if (!fs)
		return gfail(o, g, "cannot list the filesystems");
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
		rc = read_fs(g, o, f);
	}
	free_strings(fs);
	return rc;
}

int gv_read_disk(const struct gv_read_opts *o, struct gv_disk *d)
{
	guestfs_h *g;
	int rc;

	memset(d, 0, sizeof(*d));
	g = launch(o);
	if (!g)
		return OVL_EXIT_FAILURE;
	rc = read_filesystems(g, o, d);
	if (guestfs_shutdown(g) == -1 && !rc)
		rc = gfail(o, g, "the libguestfs appliance failed");
	guestfs_close(g);
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
	d->fs = NULL;
	d->n = 0;
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

#else
/* ISO C wants something in every file. */
typedef int gv_not_built;
#endif /* HAVE_LIBGUESTFS */
