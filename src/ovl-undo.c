/*
 * ovl-undo: bring a base back to the state right after an earlier commit
 * (or forward again to an undone one), and renew its overlay.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcodes.h"
#include "jsonout.h"
#include "parse.h"
#include "report.h"
#include "timefmt.h"
#include "undo.h"

static char *to_arg, *tag_arg, *time_arg, *steps_arg, *method_arg;
static int discard_overlay;

static const struct poptOption undo_options[] = {
	{ "to", '\0', POPT_ARG_STRING, &to_arg, 0, "go to the state after commit N (0: pristine)", "N" },
	{ "tag", '\0', POPT_ARG_STRING, &tag_arg, 0, "go to the commit tagged NAME", "NAME" },
	{ "time", '\0', POPT_ARG_STRING, &time_arg, 0,
	  "go to the last commit at or before TIME (ISO 8601 or @EPOCH)", "TIME" },
	{ "steps", '\0', POPT_ARG_STRING, &steps_arg, 0, "go K states back (default 1)", "K" },
	{ "method", '\0', POPT_ARG_STRING, &method_arg, 0, "how to rebuild the base", "extents|replay" },
	{ "discard-overlay", '\0', POPT_ARG_NONE, &discard_overlay, 0,
	  "renew the overlay even if it holds data (that data is lost)", NULL },
	POPT_TABLEEND
};

static const struct cli_tool undo_tool = {
	.synopsis = "[options] OVERLAY|BASE",
	.summary = "Bring a base to an earlier (or undone) state of its history.",
	.options = undo_options,
	.common = CLI_DRY_RUN | CLI_STORE | CLI_OUTPUT | CLI_PROGRESS,
	.min_operands = 1,
	.max_operands = 1,
};

static int parse_count(const char *opt, const char *arg, int64_t *out)
{
	uint64_t v;

	if (parse_uint64(arg, &v) < 0 || v > INT64_MAX)
		return cli_usage_error("invalid %s value '%s'", opt, arg);
	*out = (int64_t)v;
	return OVL_EXIT_OK;
}

static int parse_selector(struct undo_opts *o)
{
	int given = !!to_arg + !!tag_arg + !!time_arg + !!steps_arg;

	if (given > 1)
		return cli_usage_error("give only one of --to, --tag, --time, --steps");
	o->select = SELECT_STEPS;
	o->steps = 1;
	if (to_arg) {
		o->select = SELECT_TO;
		return parse_count("--to", to_arg, &o->to);
	}
	if (steps_arg) {
		int rc = parse_count("--steps", steps_arg, &o->steps);
		if (!rc && o->steps == 0)
			return cli_usage_error("--steps needs at least 1");
		return rc;
	}
	if (tag_arg) {
		o->select = SELECT_TAG;
		o->tag = tag_arg;
		return *tag_arg ? OVL_EXIT_OK : cli_usage_error("--tag needs a name");
	}
	if (time_arg) {
		o->select = SELECT_TIME;
		if (parse_time(time_arg, &o->time_us) < 0)
			return cli_usage_error("invalid --time value '%s' (ISO 8601 date or "
					       "date-time, or @EPOCH)", time_arg);
	}
	return OVL_EXIT_OK;
}

static int read_options(const struct cli_common *common, struct undo_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->discard_overlay = discard_overlay;
	o->dry_run = common->dry_run;
	o->progress = common->progress;
	o->store_dir = common->store;
	if (method_arg && strcmp(method_arg, "replay") == 0)
		o->method = METHOD_REPLAY;
	else if (method_arg && strcmp(method_arg, "extents") != 0)
		return cli_usage_error("invalid --method value '%s' (extents or replay)", method_arg);
	return parse_selector(o);
}

static void print_json(const struct undo_result *r, bool dry_run)
{
	struct json_writer w;

	jw_init(&w, stdout);
	jw_object_begin(&w);
	jw_field_int(&w, "from", r->from);
	jw_field_int(&w, "to", r->to);
	jw_field_string(&w, "method", r->method);
	jw_field_double(&w, "seconds", r->seconds);
	jw_field_uint(&w, "bytes", r->bytes);
	jw_field_bool(&w, "dry_run", dry_run);
	jw_field_bool(&w, "changed", !dry_run && !r->nothing_to_do);
	jw_field_string(&w, "base", r->base);
	jw_object_end(&w);
	jw_finish(&w);
}

static void print_result(const struct undo_result *r, enum output_format out, bool dry_run)
{
	if (out == OUTPUT_JSON)
		print_json(r, dry_run);
	else if (!dry_run && !r->nothing_to_do)
		ovl_note("%s is now in state %" PRId64 " (was %" PRId64 "), by %s in %.2f s",
			 ovl_quote(r->base), r->to, r->from, r->method, r->seconds);
}

int main(int argc, const char **argv)
{
	struct cli_common common;
	struct undo_opts opts;
	struct undo_result res;
	const char **operands;
	poptContext ctx;
	bool done;
	int n, status;

	status = cli_parse(argc, argv, &undo_tool, &common, &ctx, &operands, &n, &done);
	if (status == OVL_EXIT_OK && !done)
		status = read_options(&common, &opts);
	if (status == OVL_EXIT_OK && !done) {
		if (common.output == OUTPUT_JSON)
			ovl_set_quiet(true);
		status = undo_image(operands[0], &opts, &res);
		if (status == OVL_EXIT_OK)
			print_result(&res, common.output, opts.dry_run);
		undo_result_free(&res);
	}
	free(to_arg);
	free(tag_arg);
	free(time_arg);
	free(steps_arg);
	free(method_arg);
	free(operands);
	cli_end(ctx, &common);
	return cli_close_stdout(status);
}
