#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "digest.h"
#include "files.h"
#include "exitcodes.h"
#include "hist.h"
#include "history-check.h"
#include "jsonout.h"
#include "lineage.h"
#include "log.h"
#include "progress.h"
#include "report.h"
#include "schema.h"
#include "strbuf.h"

/* One problem found: the file (or store) it is about, and what is wrong. */
struct finding {
	char *file;
	char *problem;
};

struct findings {
	struct finding *v;     /* every problem, in the order found */
	size_t n, cap;
	size_t checked;
	bool quiet_json;   /* JSON output: problems go into it, not stderr */
	struct progress pg; /* bytes digested and files checked */
};

/* What one qemu-img check counts for on the progress bar, against the
 * bytes digested: it reads an image's metadata, not its data. */
#define CHECK_WEIGHT (4u << 20)

/* One problem about SUBJECT (a file, or the store): told on stderr now
 * (escaped, as every message), and kept whole for the JSON output, so
 * that no problem is dropped whatever bytes its names hold. */
static void problem(struct findings *f, const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct findings *f, const char *subject, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	char *shown = subject ? ovl_unalias(subject) : NULL;

	ovl_error(subject, "%s", msg ? msg : fmt);
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 16;
		f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	f->v[f->n].file = subject ? shown : NULL;   /* null in JSON */
	f->v[f->n++].problem = msg ? msg : xstrdup(fmt);
}

static void findings_free(struct findings *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].file);
		free(f->v[i].problem);
	}
	free(f->v);
}

/* {"store", "sound", "checked", "problems": [{"file", "problem"}...],
 * "in_progress": true only when another run holds the store}: every
 * problem, whatever bytes its file name holds. */
static void print_json(const struct store *s, const struct findings *f)
{
	struct json_writer w;

	jw_init(&w, stdout);
	jw_object_begin(&w);
	jw_field_string(&w, "store", s->dir);
	jw_field_bool(&w, "sound", f->n == 0);
	jw_field_uint(&w, "checked", f->checked);
	if (s->in_progress)
		jw_field_bool(&w, "in_progress", true);
	jw_key(&w, "problems");
	jw_array_begin(&w);
	for (size_t i = 0; i < f->n; i++) {
		jw_object_begin(&w);
		jw_field_string(&w, "file", f->v[i].file);
		jw_field_string(&w, "problem", f->v[i].problem);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	jw_object_end(&w);
	jw_finish(&w);
}

/* digest_file() of PATH, each byte hashed moving the bar. */
static int digest_path(struct findings *f, const char *path, char digest[DIGEST_STR_LEN])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		ovl_error_errno(path, errno, "cannot open to checksum");
		return OVL_EXIT_FAILURE;
	}
	rc = digest_fd_progress(fd, path, digest, &f->pg);
	close(fd);
	return rc;
}

/* An image file in the store: present, its digest as logged, and sound
 * to qemu-img check (opened alone: its backing name is stale). */
static void check_file(struct findings *f, const char *path, const char *format,
		       const char *logged, const char *what)
{
	char digest[DIGEST_STR_LEN];
	struct stat st;

	f->checked++;
	if (stat(path, &st) < 0) {
		problem(f, path, "%s is missing: %s", what, strerror(errno));
		progress_advance(&f->pg, CHECK_WEIGHT);
		return;
	}
	if (logged && strncmp(logged, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) != 0)
		problem(f, path, "%s was logged with a digest of another kind (%.*s), "
			"which this version cannot compute", what,
			(int)strcspn(logged, ":"), logged);
	else if (digest_path(f, path, digest) == OVL_EXIT_OK &&
		 (!logged || strcmp(digest, logged) != 0))
		problem(f, path, "%s does not match its logged digest", what);
	if (strcmp(format, "qcow2") == 0 && image_check_file(path) != OVL_EXIT_OK)
		problem(f, path, "%s fails qemu-img check", what);
	progress_advance(&f->pg, CHECK_WEIGHT);
}

static void check_pristine(struct store *s, struct findings *f)
{
	char *digest = NULL;

	if (!s->pristine) {
		problem(f, s->dir, "the store has no pristine copy");
		return;
	}
	db_query_text(&s->db, &digest, "SELECT value FROM meta WHERE key = 'pristine_digest'", NULL);
	check_file(f, s->pristine, s->base_format, digest, "the pristine copy");
	free(digest);
}

/* What the history's checks find (history-check.h), as problems of the
 * database. */
struct verify_sink {
	struct damage d;
	struct findings *f;
	struct store *s;
};

static void damage_found(struct damage *d, int64_t seq, const char *why)
{
	struct verify_sink *v = d->arg;

	d->count++;
	if (seq > 0)
		problem(v->f, v->s->db.path, "commit %" PRId64 ": %s", seq, why);
	else
		problem(v->f, v->s->db.path, "%s", why);
}

static void check_commits(struct store *s, struct findings *f, struct damage *d,
			  const struct commit_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *path = store_archive_path(s, rows[i].seq, rows[i].file);
		char *what = xasprintf("archive of commit %" PRId64, rows[i].seq);
		if (!path) {
			problem(f, s->dir, "%s: refused (see above)", what);
			free(what);
			continue;
		}
		check_file(f, path, "qcow2", rows[i].digest, what);
		if (!rows[i].damage)
			commit_map_validate(s, &rows[i], d);
		free(what);
		free(path);
	}
}

static bool is_logged(const struct commit_row *rows, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].file && strcmp(rows[i].file + strlen(STORE_COMMITS_DIR "/"), name) == 0)
			return true;
	return false;
}

/* While another run holds the store (s->in_progress), the archive of the
 * commit it is making is there before its row is done. */
static bool is_being_made(struct store *s, const char *name)
{
	char *file = path_join(STORE_COMMITS_DIR, name);
	int64_t n = 0;

	if (s->in_progress)
		db_query_int(&s->db, &n, 0, "SELECT count(*) FROM commits WHERE pending = 1 "
			     "AND file = ?", "s", file);
	free(file);
	return n > 0;
}

static void check_strays(struct store *s, struct findings *f, const struct commit_row *rows,
			 size_t n)
{
	char *dir = store_path(s, STORE_COMMITS_DIR);
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d) {
		problem(f, dir, "cannot read: %s", strerror(errno));
		free(dir);
		return;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && !is_logged(rows, n, de->d_name) &&
		    !is_being_made(s, de->d_name)) {
			char *p = path_join(dir, de->d_name);
			problem(f, p, "file in the store that no commit names");
			free(p);
		}
	closedir(d);
	free(dir);
}

static void check_journal_row(struct store *s, const struct journal_entry *e, void *arg)
{
	journal_entry_validate(s, e, arg);
}

/* The numbers, order and states of the rows, the journal's rows, and
 * unfinished commits with no journal row to finish them. */
static void check_chain(struct store *s, struct findings *f, struct damage *d,
			const struct commit_row *rows, size_t n)
{
	int64_t pending = 0, journal = 0;

	history_rows_validate(s, rows, n, d);
	journal_each(s, check_journal_row, d);
	db_query_int(&s->db, &pending, 0, "SELECT count(*) FROM commits WHERE pending = 1", NULL);
	db_query_int(&s->db, &journal, 0, "SELECT count(*) FROM journal", NULL);
	if (pending && !journal)
		problem(f, s->db.path, "%" PRId64 " unfinished commits without a journal entry", pending);
}

/* The bar's work: the bytes of the pristine copy and of every archive
 * logged, and one qemu-img check of each. */
static uint64_t verify_work(struct store *s, const struct commit_row *rows, size_t n)
{
	uint64_t total = (s->pristine ? progress_file_bytes(s->pristine) : 0) + CHECK_WEIGHT;

	for (size_t i = 0; i < n; i++) {
		char *path = rows[i].file ? store_path(s, rows[i].file) : NULL;
		total += progress_file_bytes(path) + CHECK_WEIGHT;
		free(path);
	}
	return total;
}

int hist_verify(struct store *s, enum output_format out, bool progress)
{
	struct findings f = { .quiet_json = out == OUTPUT_JSON };
	struct verify_sink sink = { { damage_found, &sink, 0 }, &f, s };
	struct commit_row *rows = NULL;
	size_t n = 0, bad;

	if (schema_quick_check(&s->db) != OVL_EXIT_OK)
		problem(&f, s->db.path, "database fails its integrity check");
	else if (log_list_raw(s, &rows, &n) == OVL_EXIT_OK) {
		progress_start(&f.pg, progress, verify_work(s, rows, n));
		check_pristine(s, &f);
		check_commits(s, &f, &sink.d, rows, n);
		progress_finish(&f.pg, true);
		check_strays(s, &f, rows, n);
		check_chain(s, &f, &sink.d, rows, n);
	}
	bad = f.n;
	if (out == OUTPUT_JSON)
		print_json(s, &f);
	else if (!bad)
		ovl_note("%s is sound: the pristine copy and %zu archives check out", ovl_quote(s->dir), n);
	else
		ovl_note("%s has %zu problem%s", ovl_quote(s->dir), bad, bad == 1 ? "" : "s");
	findings_free(&f);
	commit_rows_free(rows, n);
	return bad ? OVL_EXIT_FAILURE : OVL_EXIT_OK;
}
