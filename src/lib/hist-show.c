#include "config.h"

#include <inttypes.h>
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

/* The fields every commit has in list and show. */
static void commit_fields(struct json_writer *w, const struct store *s,
			  const struct commit_row *r)
{
	char when[40];

	jw_field_int(w, "seq", r->seq);
	jw_field_string(w, "time", format_time_utc(r->time_us, when, sizeof(when)));
	jw_field_string(w, "message", r->message);
	jw_field_string(w, "tag", r->tag);
	jw_field_uint(w, "size", r->size);
	jw_field_string(w, "state", commit_state(s, r));
}

/* Streamed row by row: a 10,000-commit history costs no more per row
 * than a short one. */
static void print_list_json(const struct store *s, const struct commit_row *rows, size_t n)
{
	struct json_writer w;

	jw_init(&w, stdout);
	jw_object_begin(&w);
	jw_field_string(&w, "base", s->base);
	jw_field_string(&w, "store", s->dir);
	/* Only then: another ovl process holds the store (see STORE_READ). */
	if (s->in_progress)
		jw_field_bool(&w, "in_progress", true);
	jw_field_int(&w, "head", s->head);
	jw_field_int(&w, "oldest", s->oldest);
	jw_key(&w, "commits");
	jw_array_begin(&w);
	for (size_t i = 0; i < n; i++) {
		jw_object_begin(&w);
		commit_fields(&w, s, &rows[i]);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	jw_object_end(&w);
	jw_finish(&w);
}

/* The TAG column's width: the longest tag as printed (escaped). */
static int tag_width(const struct commit_row *rows, size_t n)
{
	size_t w = 3;

	for (size_t i = 0; i < n; i++)
		if (rows[i].tag && strlen(ovl_escape(rows[i].tag)) > w)
			w = strlen(ovl_escape(rows[i].tag));
	return w > 24 ? 24 : (int)w;
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
	printf("  digest:     %s\n", r->digest ? ovl_escape(r->digest) : "");
	printf("  extents:    %" PRId64 "\n", r->n_extents);
	printf("  base size:  %s before, %s after\n", format_size(r->size_before, before, sizeof(before)),
	       format_size(r->size_after, after, sizeof(after)));
}

static void print_show_json(const struct store *s, const struct commit_row *r,
			    const char *archive)
{
	char *shown = ovl_unalias(archive);
	struct json_writer w;

	jw_init(&w, stdout);
	jw_object_begin(&w);
	commit_fields(&w, s, r);
	jw_field_bool(&w, "head", r->seq == s->head);
	jw_field_string(&w, "archive", shown);
	jw_field_string(&w, "digest", r->digest);
	jw_field_int(&w, "extents", r->n_extents);
	jw_field_uint(&w, "base_size_before", r->size_before);
	jw_field_uint(&w, "base_size_after", r->size_after);
	jw_object_end(&w);
	jw_finish(&w);
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
