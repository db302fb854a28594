/*
 * ovl-history: what a base's history store holds, whether it is sound,
 * how to keep it small, and what each commit changed in the guest.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcodes.h"
#include "hist.h"
#include "locate.h"
#include "parse.h"
#include "report.h"
#include "retention.h"

static char *keep_arg[5], *within_arg;

static const struct poptOption history_options[] = {
	{ "keep-last", '\0', POPT_ARG_STRING, &keep_arg[0], 0, "prune: keep the N newest commits", "N" },
	{ "keep-hourly", '\0', POPT_ARG_STRING, &keep_arg[1], 0, "prune: keep the newest of N hours", "N" },
	{ "keep-daily", '\0', POPT_ARG_STRING, &keep_arg[2], 0, "prune: keep the newest of N days", "N" },
	{ "keep-weekly", '\0', POPT_ARG_STRING, &keep_arg[3], 0, "prune: keep the newest of N weeks", "N" },
	{ "keep-monthly", '\0', POPT_ARG_STRING, &keep_arg[4], 0, "prune: keep the newest of N months", "N" },
	{ "keep-within", '\0', POPT_ARG_STRING, &within_arg, 0,
	  "prune: keep commits within DURATION of the newest (e.g. 7d, 1y2m)", "DURATION" },
	POPT_TABLEEND
};

static const struct cli_tool history_tool = {
	.synopsis = "[options] [list|show N|verify|prune|tag N NAME|diff N] OVERLAY|BASE",
	.summary = "Show, check and prune the history of a base.",
	.options = history_options,
	.common = CLI_DRY_RUN | CLI_STORE | CLI_OUTPUT | CLI_PROGRESS,
	.min_operands = 1,
	.max_operands = 4,
};

enum sub { SUB_LIST, SUB_SHOW, SUB_VERIFY, SUB_PRUNE, SUB_TAG, SUB_DIFF };

static const struct { const char *name; enum sub sub; int args; } subcommands[] = {
	{ "list", SUB_LIST, 0 }, { "show", SUB_SHOW, 1 }, { "verify", SUB_VERIFY, 0 },
	{ "prune", SUB_PRUNE, 0 }, { "tag", SUB_TAG, 2 }, { "diff", SUB_DIFF, 1 },
};

struct request {
	enum sub sub;
	int64_t seq;
	const char *name;          /* tag */
	const char *image;
	struct retention_policy keep;
};

static int parse_seq(const char *arg, int64_t *seq)
{
	uint64_t v;

	if (parse_uint64(arg, &v) < 0 || v > INT64_MAX)
		return cli_usage_error("invalid commit number '%s'", arg);
	*seq = (int64_t)v;
	return OVL_EXIT_OK;
}

/* "SUB ARGS... IMAGE", or just "IMAGE" (list). */
static int parse_operands(const char **ops, int n, struct request *r)
{
	size_t k = 0;
	int rc = OVL_EXIT_OK;

	while (k < sizeof(subcommands) / sizeof(subcommands[0]) &&
	       strcmp(ops[0], subcommands[k].name) != 0)
		k++;
	if (k == sizeof(subcommands) / sizeof(subcommands[0])) {
		r->sub = SUB_LIST;
		r->image = ops[0];
		return n == 1 ? OVL_EXIT_OK : cli_usage_error("too many operands");
	}
	r->sub = subcommands[k].sub;
	if (n != subcommands[k].args + 2)
		return cli_usage_error("%s needs %s", ops[0],
				       subcommands[k].args == 2 ? "N NAME and an image" :
				       subcommands[k].args == 1 ? "N and an image" : "an image");
	if (subcommands[k].args >= 1)
		rc = parse_seq(ops[1], &r->seq);
	if (subcommands[k].args == 2 && !*(r->name = ops[2]))
		rc = cli_usage_error("tag needs a name");
	r->image = ops[n - 1];
	return rc;
}

static int parse_keep(struct request *r)
{
	int64_t *slots[] = { &r->keep.last, &r->keep.hourly, &r->keep.daily, &r->keep.weekly,
			     &r->keep.monthly };
	bool any = within_arg != NULL;

	r->keep.within_us = -1;
	for (int i = 0; i < 5; i++) {
		uint64_t v;
		*slots[i] = -1;
		if (!keep_arg[i])
			continue;
		if (parse_uint64(keep_arg[i], &v) < 0 || v > INT64_MAX)
			return cli_usage_error("invalid --%s value '%s'", history_options[i].longName,
					       keep_arg[i]);
		*slots[i] = (int64_t)v;
		any = true;
	}
	if (within_arg && parse_duration(within_arg, &r->keep.within_us) < 0)
		return cli_usage_error("invalid --keep-within value '%s' (like 7d, 12h, 1y2m)",
				       within_arg);
	if (r->sub == SUB_PRUNE && !any)
		return cli_usage_error("prune needs a --keep-* option");
	if (r->sub != SUB_PRUNE && any)
		return cli_usage_error("--keep-* options go with prune");
	return OVL_EXIT_OK;
}

static int run_read_only(const struct request *r, const struct cli_common *c)
{
	struct store s;
	int rc = store_open_for(r->image, c->store, STORE_READ, &s);

	if (!rc) {
		switch (r->sub) {
		case SUB_SHOW:   rc = hist_show(&s, r->seq, c->output); break;
		case SUB_VERIFY: rc = hist_verify(&s, c->output, c->progress && c->output != OUTPUT_JSON); break;
		case SUB_DIFF:   rc = hist_diff(&s, r->seq, c->output); break;
		default:         rc = hist_list(&s, c->output); break;
		}
	}
	store_close(&s);
	return rc;
}

static int run_changing(const struct request *r, const struct cli_common *c)
{
	struct store s;
	int rc = store_open_for(r->image, c->store, c->dry_run ? STORE_DRY_RUN : STORE_WRITE, &s);

	if (!rc)
		rc = r->sub == SUB_TAG ? hist_tag(&s, r->seq, r->name, c->dry_run)
				       : hist_prune(&s, &r->keep, c->dry_run, c->output, c->progress);
	store_close(&s);
	return rc;
}

int main(int argc, const char **argv)
{
	struct cli_common common;
	struct request req;
	const char **operands;
	poptContext ctx;
	bool done;
	int n, status;

	memset(&req, 0, sizeof(req));
	status = cli_parse(argc, argv, &history_tool, &common, &ctx, &operands, &n, &done);
	if (status == OVL_EXIT_OK && !done)
		status = parse_operands(operands, n, &req);
	if (status == OVL_EXIT_OK && !done)
		status = parse_keep(&req);
	if (status == OVL_EXIT_OK && !done) {
		if (common.output == OUTPUT_JSON && req.sub != SUB_VERIFY)
			ovl_set_quiet(true);
		status = (req.sub == SUB_TAG || req.sub == SUB_PRUNE) ? run_changing(&req, &common)
								       : run_read_only(&req, &common);
	}
	for (int i = 0; i < 5; i++)
		free(keep_arg[i]);
	free(within_arg);
	free(operands);
	cli_end(ctx, &common);
	return cli_close_stdout(status);
}
