/*
 * ovl-history diff N: the files commit N added, removed or changed in the
 * guest's filesystems, found by listing state N-1 (the previous kept
 * state) and state N side by side.
 *
 * Each state is rebuilt read-only from the store alone: the archives of
 * the kept commits up to it, newest on top, over the pristine copy, every
 * backing named in a qemu json: spec (no archive header is trusted), and
 * served by a qemu-nbd --read-only of ours.  Nothing in the store, the
 * base or the overlay is opened for writing.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive-check.h"
#include "exitcodes.h"
#include "guestfs-view.h"
#include "hist.h"
#include "jsonout.h"
#include "lineage.h"
#include "privdir.h"
#include "report.h"
#include "strbuf.h"
#include "utf8.h"

/*
 * qemu parses a json: name with a nesting limit of 1024 (qemu-nbd 7.2
 * served 1000 levels, and at 1022 ate memory without end), and Linux
 * takes no single argument longer than 128 KiB; one level of the stack
 * costs one nesting level and about 80 bytes plus its file name.
 */
#define MAX_LEVELS 900
#define MAX_SPEC_BYTES (128 * 1024 - 1)

/* ------------------------------------------------------- which states */

static int not_kept(struct store *s, int64_t seq)
{
	int64_t abandoned = 0;

	if (db_query_int(&s->db, &abandoned, 0, "SELECT abandoned FROM commits "
			 "WHERE seq = ? AND pending = 0", "i", seq))
		return OVL_EXIT_FAILURE;
	if (abandoned)
		ovl_error(s->base, "commit %" PRId64 " was abandoned (undone, then a new commit "
			  "was made); its changes are in no state kept", seq);
	else if (seq > 0 && seq <= s->oldest)
		ovl_error(s->base, "commit %" PRId64 " was pruned (folded into the pristine copy, "
			  "which holds state %" PRId64 ")", seq, s->oldest);
	else
		ovl_error(s->base, "no commit %" PRId64 " in this history", seq);
	return OVL_EXIT_FAILURE;
}

/* SEQ is a kept commit; *from is the kept state just before it. */
static int find_states(struct store *s, const struct lineage *l, int64_t seq, int64_t *from)
{
	for (size_t k = 0; k < l->n; k++) {
		if (l->c[k].seq == seq) {
			*from = k ? l->c[k - 1].seq : l->oldest;
			return OVL_EXIT_OK;
		}
	}
	return not_kept(s, seq);
}

/* ------------------------------------------------------- image specs */

/* {"driver":"file","filename":PATH}, or NULL (reported). */
static json_t *file_node(const struct store *s, const char *path)
{
	if (!utf8_valid(path)) {
		ovl_error(s->base, "cannot name %s in a qemu image spec: the name is not UTF-8",
			  ovl_quote(path));
		return NULL;
	}
	return json_pack("{s:s, s:s}", "driver", "file", "filename", path);
}

/* The bottom of every stack: the pristine copy, its own backing (if its
 * header named one) never opened. */
static json_t *pristine_node(const struct store *s)
{
	json_t *file = file_node(s, s->pristine);
	json_t *node;

	if (!file)
		return NULL;
	node = json_pack("{s:s, s:o}", "driver", s->base_format, "file", file);
	if (node && strcmp(s->base_format, "raw") != 0)
		json_object_set_new(node, "backing", json_null());
	return node;
}

/* One archive over LOWER (whose reference it takes). */
static json_t *archive_node(struct store *s, int64_t seq, json_t *lower)
{
	char *archive = lineage_archive(s, seq);
	json_t *file = archive ? file_node(s, archive) : NULL;
	json_t *node = NULL;

	if (!archive)
		ovl_error(s->base, "commit %" PRId64 " has no archive in the store", seq);
	if (file)
		node = json_pack("{s:s, s:o, s:o}", "driver", "qcow2", "file", file,
				 "backing", lower);
	else
		json_decref(lower);
	free(archive);
	return node;
}

static int too_deep(struct store *s, int64_t state, size_t levels)
{
	ovl_error(s->base, "state %" PRId64 " stacks %zu archives over the pristine copy, more "
		  "than qemu can open as one image spec; prune older commits "
		  "(ovl-history prune) to see its files", state, levels);
	return OVL_EXIT_FAILURE;
}

/* "json:{...}" for state STATE: the archives of the kept commits <= STATE,
 * newest on top, down to the pristine copy. */
static int state_spec(struct store *s, const struct lineage *l, int64_t state, char **spec)
{
	json_t *node = pristine_node(s);
	size_t levels = 0;
	char *text;

	for (size_t k = 0; k < l->n && l->c[k].seq <= state; k++)
		levels++;
	if (levels > MAX_LEVELS) {
		json_decref(node);
		return too_deep(s, state, levels);
	}
	for (size_t k = 0; node && k < levels; k++)
		node = archive_node(s, l->c[k].seq, node);
	if (!node)
		return OVL_EXIT_FAILURE;
	text = json_dumps(node, JSON_COMPACT);
	json_decref(node);
	if (!text) {
		ovl_error(s->base, "cannot write the image spec of state %" PRId64, state);
		return OVL_EXIT_FAILURE;
	}
	*spec = xasprintf("json:%s", text);
	free(text);
	if (strlen(*spec) > MAX_SPEC_BYTES) {
		free(*spec);
		*spec = NULL;
		return too_deep(s, state, levels);
	}
	return OVL_EXIT_OK;
}

/* ------------------------------------------------------ the two sides */

struct side {
	int64_t state;
	char what[48];
	char *spec;
	char *sock, *scratch;
	struct gv_export exp;
	struct gv_read_opts ro;
	struct gv_disk disk;
	int rc;
	pthread_t thread;
	bool threaded;
};

/* The sides' files in the private directory, by tag. */
static const char *const side_tags[2] = { "from", "to" };
static const char *const side_files[2] = { "sock", "files" };

static void side_init(struct side *d, struct store *s, int64_t state, const char *dir,
		      int tag)
{
	memset(d, 0, sizeof(*d));
	d->exp.child.pid = -1;
	d->exp.child.err_fd = -1;
	d->exp.hold.fd = -1;
	d->state = state;
	snprintf(d->what, sizeof(d->what), "state %" PRId64, state);
	d->sock = xasprintf("%s/%s.%s", dir, side_tags[tag], side_files[0]);
	d->scratch = xasprintf("%s/%s.%s", dir, side_tags[tag], side_files[1]);
	d->ro = (struct gv_read_opts){ d->sock, d->scratch, d->what,
				       getenv("LIBGUESTFS_BACKEND_SETTINGS") == NULL };
}

static void side_free(struct side *d)
{
	gv_export_stop(&d->exp);
	gv_disk_free(&d->disk);
	unlink(d->scratch);
	free(d->spec);
	free(d->sock);
	free(d->scratch);
}

static void *read_side(void *arg)
{
	struct side *d = arg;

	d->rc = gv_read_disk(&d->ro, &d->disk);
	return NULL;
}

/* Did both sides fail the same way ("state N: WHY" with the same WHY)? */
static bool same_failure(const struct side *a, const struct side *b)
{
	const char *ea = a->disk.error, *eb = b->disk.error;

	return ea && eb && strncmp(ea, a->what, strlen(a->what)) == 0 &&
	       strncmp(eb, b->what, strlen(b->what)) == 0 &&
	       strcmp(ea + strlen(a->what), eb + strlen(b->what)) == 0;
}

/* Both appliances at once: each boots on a core of its own.  The
 * threads report nothing; their failures are reported here. */
static int read_sides(const struct store *s, struct side d[2])
{
	for (int k = 0; k < 2; k++)
		d[k].threaded = pthread_create(&d[k].thread, NULL, read_side, &d[k]) == 0;
	for (int k = 0; k < 2; k++) {
		if (d[k].threaded)
			pthread_join(d[k].thread, NULL);
		else
			read_side(&d[k]);
	}
	if (d[0].rc && d[1].rc && same_failure(&d[0], &d[1])) {
		ovl_error(s->base, "%s and %s%s", d[0].what, d[1].what,
			  ovl_escape(d[1].disk.error + strlen(d[1].what)));
		return d[0].rc;
	}
	for (int k = 0; k < 2; k++)
		if (d[k].rc)
			ovl_error(s->base, "%s", ovl_escape(d[k].disk.error ? d[k].disk.error
									   : d[k].what));
	return d[0].rc ? d[0].rc : d[1].rc;
}

/* -------------------------------------------------------- comparison */

struct change {
	char kind;               /* 'A', 'D', 'M' */
	const char *path;
};

struct fs_diff {
	const char *device, *type;
	struct change *v;
	size_t n;
};

static void add_change(struct fs_diff *f, size_t *cap, char kind, const char *path)
{
	if (f->n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		f->v = xrealloc(f->v, *cap * sizeof(*f->v));
	}
	f->v[f->n++] = (struct change){ kind, path };
}

/* Walk both sorted listings (either may be NULL: a filesystem that is
 * only on one side). */
static void compare_fs(const struct gv_fs *a, const struct gv_fs *b, struct fs_diff *f)
{
	size_t i = 0, j = 0, na = a ? a->n : 0, nb = b ? b->n : 0, cap = 0;

	f->device = a ? a->device : b->device;
	f->type = b ? b->type : a->type;
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : strcmp(a->v[i].path, b->v[j].path);
		if (c < 0) {
			add_change(f, &cap, 'D', a->v[i++].path);
		} else if (c > 0) {
			add_change(f, &cap, 'A', b->v[j++].path);
		} else {
			if (gv_entry_changed(&a->v[i], &b->v[j]))
				add_change(f, &cap, 'M', b->v[j].path);
			i++;
			j++;
		}
	}
}

static void skipped(const struct store *s, const struct gv_fs *f, int64_t state)
{
	ovl_warn(s->base, "%s does not mount in state %" PRId64 " (%s); its files are not "
		 "compared", ovl_escape(f->device), state, ovl_escape(f->why ? f->why : "unreadable"));
}

/* Pair the filesystems of the two disks by device name.  One readable
 * on one side only: new (all added) or gone (all removed) when the other
 * side has no such filesystem, skipped with a warning when it has one
 * that does not mount. */
static size_t compare_disks(const struct store *s, const struct side d[2],
			    struct fs_diff **out)
{
	const struct gv_disk *a = &d[0].disk, *b = &d[1].disk;
	struct fs_diff *v = xcalloc(a->n + b->n + 1, sizeof(*v));
	size_t n = 0;

	for (size_t k = 0; k < a->n; k++) {
		const struct gv_fs *fa = &a->fs[k], *fb = gv_disk_find(b, fa->device);
		if (fa->readable && fb && !fb->readable)
			skipped(s, fb, d[1].state);
		else if (!fa->readable && fb && fb->readable)
			skipped(s, fa, d[0].state);
		else if (fa->readable || (fb && fb->readable))
			compare_fs(fa->readable ? fa : NULL, fb, &v[n++]);
	}
	for (size_t k = 0; k < b->n; k++)
		if (b->fs[k].readable && !gv_disk_find(a, b->fs[k].device))
			compare_fs(NULL, &b->fs[k], &v[n++]);
	*out = v;
	return n;
}

/* ------------------------------------------------------------ output */

static void print_human(const struct fs_diff *v, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (n > 1)
			printf("%s%s (%s):\n", k ? "\n" : "", ovl_escape(v[k].device),
			       ovl_escape(v[k].type));
		for (size_t c = 0; c < v[k].n; c++)
			printf("%c %s\n", v[k].v[c].kind, ovl_escape(v[k].v[c].path));
	}
}

/* KEY: the paths of F's changes of KIND, and KEY_bytes when any is not
 * UTF-8 (jsonout.h). */
static void json_changes(struct json_writer *w, const char *key, const struct fs_diff *f,
			 char kind)
{
	const char **paths = xcalloc(f->n, sizeof(*paths));
	size_t n = 0;

	for (size_t c = 0; c < f->n; c++)
		if (f->v[c].kind == kind)
			paths[n++] = f->v[c].path;
	jw_field_strings(w, key, paths, n);
	free(paths);
}

static void print_json(int64_t seq, int64_t from, const struct fs_diff *v, size_t n)
{
	struct json_writer w;

	jw_init(&w, stdout);
	jw_object_begin(&w);
	jw_field_int(&w, "seq", seq);
	jw_field_int(&w, "from", from);
	jw_key(&w, "filesystems");
	jw_array_begin(&w);
	for (size_t k = 0; k < n; k++) {
		jw_object_begin(&w);
		jw_field_string(&w, "device", v[k].device);
		jw_field_string(&w, "type", v[k].type);
		json_changes(&w, "added", &v[k], 'A');
		json_changes(&w, "removed", &v[k], 'D');
		json_changes(&w, "changed", &v[k], 'M');
		jw_object_end(&w);
	}
	jw_array_end(&w);
	jw_object_end(&w);
	jw_finish(&w);
}

/* ------------------------------------------------------------- the job */

static int report(struct store *s, const struct side d[2], int64_t seq,
		  enum output_format out)
{
	struct fs_diff *v;
	size_t n = compare_disks(s, d, &v);

	if (n == 0) {
		ovl_error(s->base, "no filesystem libguestfs can read in state %" PRId64
			  " and state %" PRId64, d[0].state, d[1].state);
	} else if (out == OUTPUT_JSON) {
		print_json(seq, d[0].state, v, n);
	} else {
		print_human(v, n);
	}
	for (size_t k = 0; k < n; k++)
		free(v[k].v);
	free(v);
	return n ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
}

static int serve_and_read(struct store *s, const struct lineage *l, struct side d[2])
{
	int rc = OVL_EXIT_OK;

	for (int k = 0; !rc && k < 2; k++)
		rc = state_spec(s, l, d[k].state, &d[k].spec);
	/* Both servers before any appliance: no child of ours is spawned
	 * while libguestfs forks in a thread. */
	for (int k = 0; !rc && k < 2; k++)
		rc = gv_export_start(&d[k].exp, d[k].sock, d[k].spec, s->base, d[k].what);
	if (!rc)
		rc = read_sides(s, d);
	for (int k = 0; k < 2; k++)
		gv_export_stop(&d[k].exp);
	return rc;
}

/* Before any state is served: the pristine copy and every archive the two
 * states stack (the kept ones up to SEQ) are judged and match their
 * logged digests. */
static int check_sources(struct store *s, const struct lineage *l, int64_t seq)
{
	int rc = store_pristine_check(s, PRISTINE_DIGEST);

	for (size_t k = 0; !rc && k < l->n && l->c[k].seq <= seq; k++)
		rc = store_archive_check(s, l->c[k].seq);
	return rc;
}

int hist_diff(struct store *s, int64_t seq, enum output_format out)
{
	struct lineage l;
	struct side d[2];
	int64_t from = 0;
	char *dir = NULL;
	int rc = lineage_load(s, &l);

	if (rc)
		return rc;
	rc = find_states(s, &l, seq, &from);
	if (!rc && !s->pristine) {
		ovl_error(s->dir, "the store has no pristine copy");
		rc = OVL_EXIT_FAILURE;
	}
	/* The private directory first: making it sweeps what killed runs
	 * left, even when the checks below stop this run. */
	if (!rc && !(dir = privdir_create("ovl-diff", s->base)))
		rc = OVL_EXIT_FAILURE;
	if (!rc)
		rc = check_sources(s, &l, seq);
	if (rc) {
		if (dir)
			privdir_remove(dir);
		lineage_free(&l);
		return rc;
	}
	side_init(&d[0], s, from, dir, 0);
	side_init(&d[1], s, seq, dir, 1);
	rc = serve_and_read(s, &l, d);
	if (!rc)
		rc = report(s, d, seq, out);
	side_free(&d[0]);
	side_free(&d[1]);
	privdir_remove(dir);
	lineage_free(&l);
	return rc;
}
