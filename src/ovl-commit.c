/*
 * ovl-commit: commit overlays into their bases, keep each committed overlay
 * in the base's history store, and renew the overlays.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "commit.h"
#include "exitcodes.h"
#include "jsonout.h"
#include "parse.h"
#include "report.h"
#include "timefmt.h"

static char *message_arg, *tag_arg, *min_size_arg;
static int no_history;

static const struct poptOption commit_options[] = {
	{ "message", 'm', POPT_ARG_STRING, &message_arg, 0, "describe the commit", "TEXT" },
	{ "tag", '\0', POPT_ARG_STRING, &tag_arg, 0, "name the commit (unique in the store)", "NAME" },
	{ "min-size", '\0', POPT_ARG_STRING, &min_size_arg, 0,
	  "skip overlays holding less data than SIZE", "SIZE" },
	{ "no-history", '\0', POPT_ARG_NONE, &no_history, 0,
	  "commit and renew, keeping no undo point", NULL },
	POPT_TABLEEND
};

static const struct cli_tool commit_tool = {
	.synopsis = "[options] OVERLAY...",
	.summary = "Commit each OVERLAY into its base, keep it in the base's history, renew it.",
	.options = commit_options,
	.common = CLI_DRY_RUN | CLI_STORE | CLI_OUTPUT | CLI_PROGRESS,
	.min_operands = 1,
	.max_operands = -1,
};

static int read_options(const struct cli_common *common, struct commit_opts *o)
{
	o->message = message_arg;
	o->tag = tag_arg;
	o->store_dir = common->store;
	o->no_history = no_history;
	o->dry_run = common->dry_run;
	o->progress = common->progress;
	if (min_size_arg && parse_size(min_size_arg, &o->min_size) < 0)
		return cli_usage_error("invalid --min-size value '%s'", min_size_arg);
	if (no_history && (tag_arg || message_arg))
		return cli_usage_error("--message and --tag need history (drop --no-history)");
	if (tag_arg && !*tag_arg)
		return cli_usage_error("--tag needs a name");
	return OVL_EXIT_OK;
}

static void print_json(const char *path, const struct commit_result *r, int status)
{
	struct json_writer w;
	char when[40];

	format_time_utc(r->time_us, when, sizeof(when));
	jw_init(&w, stdout);
	jw_object_begin(&w);
	jw_field_string(&w, "overlay", path);
	jw_key(&w, "seq");
	if (r->seq)
		jw_int(&w, r->seq);
	else
		jw_null(&w);
	jw_field_string(&w, "time", r->seq ? when : NULL);
	jw_field_uint(&w, "size", r->size);
	jw_field_bool(&w, "skipped", r->skipped);
	jw_field_string(&w, "base", r->base);
	jw_field_uint(&w, "base_size_before", r->size_before);
	jw_field_uint(&w, "base_size_after", r->size_after);
	jw_field_int(&w, "status", status);
	jw_object_end(&w);
	jw_finish(&w);
}

static void print_human(const char *path, const struct commit_result *r, bool dry_run)
{
	char size[32], before[32], after[32];

	if (r->skipped || dry_run)
		return;   /* the plan or the skip was told already */
	format_size(r->size, size, sizeof(size));
	if (r->seq)
		ovl_note("committed %s (%s) into %s as commit %" PRId64, ovl_quote(path), size,
			 ovl_quote(r->base), r->seq);
	else
		ovl_note("committed %s (%s) into %s; no history kept", ovl_quote(path), size,
			 ovl_quote(r->base));
	if (r->size_after > r->size_before)
		ovl_note("base %s grew from %s to %s to fit the overlay", ovl_quote(r->base),
			 format_size(r->size_before, before, sizeof(before)),
			 format_size(r->size_after, after, sizeof(after)));
}

static int commit_one(const char *path, const struct commit_opts *o, enum output_format out)
{
	struct commit_result r;
	int status = commit_overlay(path, o, &r);

	if (out == OUTPUT_JSON)
		print_json(path, &r, status);
	else if (status == OVL_EXIT_OK)
		print_human(path, &r, o->dry_run);
	commit_result_free(&r);
	return status;
}

int main(int argc, const char **argv)
{
	struct cli_common common;
	struct commit_opts opts = { 0 };
	const char **operands;
	poptContext ctx;
	bool done;
	int n, status;

	status = cli_parse(argc, argv, &commit_tool, &common, &ctx, &operands, &n, &done);
	if (status == OVL_EXIT_OK && !done)
		status = read_options(&common, &opts);
	if (status == OVL_EXIT_OK && !done) {
		if (common.output == OUTPUT_JSON)
			ovl_set_quiet(true);   /* stdout carries JSON only */
		for (int i = 0; i < n; i++)
			status = ovl_exit_worst(status, commit_one(operands[i], &opts, common.output));
	}
	free(message_arg);
	free(tag_arg);
	free(min_size_arg);
	free(operands);
	cli_end(ctx, &common);
	return cli_close_stdout(status);
}
