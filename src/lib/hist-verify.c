#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
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
#include "lineage.h"
#include "log.h"
#include "report.h"
#include "schema.h"
#include "strbuf.h"

struct findings {
	json_t *problems;
	size_t checked;
	bool quiet_json;   /* JSON output: problems go into it, not stderr */
};

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
	char *shown = ovl_unalias(subject);

	ovl_error(subject, "%s", msg ? msg : fmt);
	json_array_append_new(f->problems, json_pack("{s:s, s:s}", "file", shown,
						      "problem", msg ? msg : fmt));
	free(shown);
	free(msg);
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
		return;
	}
	if (logged && strncmp(logged, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) != 0)
		problem(f, path, "%s was logged with a digest of another kind (%.*s), "
			"which this version cannot compute", what,
			(int)strcspn(logged, ":"), logged);
	else if (digest_file(path, digest) == OVL_EXIT_OK &&
		 (!logged || strcmp(digest, logged) != 0))
		problem(f, path, "%s does not match its logged digest", what);
	if (strcmp(format, "qcow2") == 0 && image_check_file(path) != OVL_EXIT_OK)
		problem(f, path, "%s fails qemu-img check", what);
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

static void check_commits(struct store *s, struct findings *f, const struct commit_row *rows,
			  size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *path = store_archive_path(s, rows[i].seq, rows[i].file);
		char *what = xasprintf("archive of commit %" PRId64, rows[i].seq);
		int64_t extents = 0;
		if (!path) {
			problem(f, s->dir, "%s: refused (see above)", what);
			free(what);
			continue;
		}
		check_file(f, path, "qcow2", rows[i].digest, what);
		db_query_int(&s->db, &extents, 0, "SELECT count FROM extent_maps WHERE seq = ?", "i",
			     rows[i].seq);
		if (rows[i].size && !extents)
			problem(f, path, "commit %" PRId64 " has no extent map", rows[i].seq);
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

static void check_chain(struct store *s, struct findings *f)
{
	struct lineage l;
	int64_t pending = 0, journal = 0;

	if (lineage_load(s, &l) == OVL_EXIT_OK) {
		if (!lineage_has_state(&l, s->head))
			problem(f, s->dir, "head state %" PRId64 " is not a kept state", s->head);
		lineage_free(&l);
	}
	db_query_int(&s->db, &pending, 0, "SELECT count(*) FROM commits WHERE pending = 1", NULL);
	db_query_int(&s->db, &journal, 0, "SELECT count(*) FROM journal", NULL);
	if (pending && !journal)
		problem(f, s->db.path, "%" PRId64 " unfinished commits without a journal entry", pending);
}

int hist_verify(struct store *s, enum output_format out)
{
	struct findings f = { json_array(), 0, out == OUTPUT_JSON };
	struct commit_row *rows = NULL;
	size_t n = 0, bad;

	if (schema_quick_check(&s->db) != OVL_EXIT_OK)
		problem(&f, s->db.path, "database fails its integrity check");
	else if (log_list(s, &rows, &n) == OVL_EXIT_OK) {
		check_pristine(s, &f);
		check_commits(s, &f, rows, n);
		check_strays(s, &f, rows, n);
		check_chain(s, &f);
	}
	bad = json_array_size(f.problems);
	if (out == OUTPUT_JSON) {
		json_t *o = json_pack("{s:s, s:b, s:I, s:O}", "store", s->dir, "sound", bad == 0,
				      "checked", (json_int_t)f.checked, "problems", f.problems);
		if (s->in_progress)
			json_object_set_new(o, "in_progress", json_true());
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
	} else if (!bad)
		ovl_note("%s is sound: the pristine copy and %zu archives check out", ovl_quote(s->dir), n);
	else
		ovl_note("%s has %zu problem%s", ovl_quote(s->dir), bad, bad == 1 ? "" : "s");
	json_decref(f.problems);
	commit_rows_free(rows, n);
	return bad ? OVL_EXIT_FAILURE : OVL_EXIT_OK;
}
