#include "config.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "hist.h"
#include "jsonout.h"
#include "log.h"
#include "parse.h"
#include "report.h"
#include "strbuf.h"
#include "timefmt.h"

/* jansson refuses text that is not UTF-8: such bytes become '?'. */
static json_t *json_text(const char *s)
{
	json_t *j;
	char *copy;

	if (!s)
		return json_null();
	if ((j = json_string(s)))
		return j;
	copy = xstrdup(s);
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *commit_json(const struct store *s, const struct commit_row *r)
{
	char when[40];

	return json_pack("{s:I, s:s, s:o, s:o, s:I, s:s}", "seq", (json_int_t)r->seq,
			 "time", format_time_utc(r->time_us, when, sizeof(when)),
			 "message", json_text(r->message), "tag", json_text(r->tag),
			 "size", (json_int_t)r->size, "state", commit_state(s, r));
}

/* Streamed row by row with a plain writer: a 10,000-commit history costs
 * no more per row than a short one, and any bytes in a message print. */
static void put_commit_row(const struct store *s, const struct commit_row *r)
{
	char when[40];

	printf("{\"seq\":%" PRId64 ",\"time\":\"%s\",\"message\":", r->seq,
	       format_time_utc(r->time_us, when, sizeof(when)));
	json_put_string(stdout, r->message);
	fputs(",\"tag\":", stdout);
	json_put_string(stdout, r->tag);
	printf(",\"size\":%" PRIu64 ",\"state\":\"%s\"}", r->size, commit_state(s, r));
}

static void print_list_json(const struct store *s, const struct commit_row *rows, size_t n)
{
	fputs("{\"base\":", stdout);
	json_put_string(stdout, s->base);
	fputs(",\"store\":", stdout);
	json_put_string(stdout, s->dir);
	/* Only then: another ovl process holds the store (see STORE_READ). */
	if (s->in_progress)
		fputs(",\"in_progress\":true", stdout);
	printf(",\"head\":%" PRId64 ",\"oldest\":%" PRId64 ",\"commits\":[", s->head, s->oldest);
	for (size_t i = 0; i < n; i++) {
		if (i)
			putchar(',');
		put_commit_row(s, &rows[i]);
	}
	fputs("]}\n", stdout);
}

static int tag_width(const struct commit_row *rows, size_t n)
{
	int w = 3;

	for (size_t i = 0; i < n; i++)
		if (rows[i].tag && (int)strlen(rows[i].tag) > w)
			w = (int)strlen(rows[i].tag);
	return w > 24 ? 24 : w;
}

static void print_list_human(const struct store *s, const struct commit_row *rows, size_t n)
{
	int tw = tag_width(rows, n);
	char when[40], size[32];

	printf("  %6s  %-19s  %9s  %-9s  %-*s  %s\n", "SEQ", "TIME", "SIZE", "STATE", tw, "TAG",
	       "MESSAGE");
	printf("%c %6" PRId64 "  %-19s  %9s  %-9s  %-*s  %s\n", s->head == s->oldest ? '*' : ' ',
	       s->oldest, "", "", "pristine", tw, "", s->oldest ? "(older commits pruned)" : "");
	for (size_t i = 0; i < n; i++) {
		const struct commit_row *r = &rows[i];
		printf("%c %6" PRId64 "  %-19s  %9s  %-9s  %-*s  %s\n",
		       r->seq == s->head ? '*' : ' ', r->seq,
		       format_time_local(r->time_us, when, sizeof(when)),
		       format_size(r->size, size, sizeof(size)), commit_state(s, r), tw,
		       r->tag ? ovl_escape(r->tag) : "", r->message ? ovl_escape(r->message) : "");
	}
}

int hist_list(struct store *s, enum output_format out)
{
	struct commit_row *rows;
	size_t n;
	int rc = log_list(s, &rows, &n);

	if (rc)
		return rc;
	if (out == OUTPUT_JSON)
		print_list_json(s, rows, n);
	else
		print_list_human(s, rows, n);
	commit_rows_free(rows, n);
	return OVL_EXIT_OK;
}

static void print_show_human(const struct store *s, const struct commit_row *r,
			     const char *archive)
{
	char local[40], utc[40], size[32], before[32], after[32];

	printf("commit %" PRId64 "%s\n", r->seq, r->seq == s->head ? " (head)" : "");
	printf("  state:      %s\n", commit_state(s, r));
	printf("  time:       %s (%s)\n", format_time_local(r->time_us, local, sizeof(local)),
	       format_time_utc(r->time_us, utc, sizeof(utc)));
	printf("  message:    %s\n", r->message ? ovl_escape(r->message) : "");
	printf("  tag:        %s\n", r->tag ? ovl_escape(r->tag) : "");
	printf("  size:       %s (%" PRIu64 " bytes of data)\n",
	       format_size(r->size, size, sizeof(size)), r->size);
	printf("  archive:    %s\n", ovl_escape(archive));
	printf("  digest:     %s\n", r->digest ? r->digest : "");
	printf("  extents:    %" PRId64 "\n", r->n_extents);
	printf("  base size:  %s before, %s after\n", format_size(r->size_before, before, sizeof(before)),
	       format_size(r->size_after, after, sizeof(after)));
}

static void print_show_json(const struct store *s, const struct commit_row *r,
			    const char *archive)
{
	char *shown = ovl_unalias(archive);
	json_t *o = commit_json(s, r);

	json_object_set_new(o, "head", json_boolean(r->seq == s->head));
	json_object_set_new(o, "archive", json_text(shown));
	json_object_set_new(o, "digest", json_text(r->digest));
	json_object_set_new(o, "extents", json_integer(r->n_extents));
	json_object_set_new(o, "base_size_before", json_integer((json_int_t)r->size_before));
	json_object_set_new(o, "base_size_after", json_integer((json_int_t)r->size_after));
	json_dumpf(o, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(o);
	free(shown);
}

int hist_show(struct store *s, int64_t seq, enum output_format out)
{
	struct commit_row r;
	char *archive;
	int rc = log_get(s, seq, &r);

	if (rc)
		return rc;
	/* Its name as logged must be the store's own (and the file ours). */
	archive = store_archive_path(s, r.seq, r.file);
	if (!archive)
		rc = OVL_EXIT_FAILURE;
	else if (out == OUTPUT_JSON)
		print_show_json(s, &r, archive);
	else
		print_show_human(s, &r, archive);
	free(archive);
	commit_row_clear(&r);
	return rc;
}

int hist_tag(struct store *s, int64_t seq, const char *name, bool dry_run)
{
	struct commit_row r;
	int64_t taken = -1;
	int rc = log_get(s, seq, &r);

	if (!rc)
		rc = db_query_int(&s->db, &taken, -1, "SELECT seq FROM commits WHERE tag = ?", "s", name);
	if (!rc && taken >= 0 && taken != seq) {
		ovl_error(s->base, "tag %s is already on commit %" PRId64, ovl_quote(name), taken);
		rc = OVL_EXIT_FAILURE;
	}
	if (!rc && dry_run)
		ovl_note("would tag commit %" PRId64 " %s", seq, ovl_quote(name));
	else if (!rc)
		rc = db_run(&s->db, "UPDATE commits SET tag = ? WHERE seq = ?", "si", name, seq);
	commit_row_clear(&r);
	return rc;
}
