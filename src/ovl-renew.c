/*
 * ovl-renew: replace a qcow2 overlay whose data is already in its base
 * with a fresh empty one, at the same path, with the same properties.
 */
#include "config.h"

#include <stdlib.h>

#include "cli.h"
#include "exitcodes.h"
#include "renew.h"

static int discard;

static const struct poptOption renew_options[] = {
	{ "discard", '\0', POPT_ARG_NONE, &discard, 0,
	  "renew even if the overlay holds data (that data is lost)", NULL },
	POPT_TABLEEND
};

static const struct cli_tool renew_tool = {
	.synopsis = "[options] OVERLAY...",
	.summary = "Replace each OVERLAY with an empty qcow2 overlay on the same base.",
	.options = renew_options,
	/* --store: renew never makes a store, but finishes a crashed commit's
	 * work in one before touching the overlay. */
	.common = CLI_DRY_RUN | CLI_STORE | CLI_PROGRESS,
	.min_operands = 1,
	.max_operands = -1,
};

int main(int argc, const char **argv)
{
	struct cli_common common;
	struct renew_opts opts = { 0 };
	const char **operands;
	poptContext ctx;
	bool done;
	int n, status;

	status = cli_parse(argc, argv, &renew_tool, &common, &ctx, &operands, &n, &done);
	if (status == OVL_EXIT_OK && !done) {
		opts.discard = discard;
		opts.dry_run = common.dry_run;
		opts.store_dir = common.store;
		for (int i = 0; i < n; i++)
			status = ovl_exit_worst(status, renew_overlay(operands[i], &opts));
	}
	free(operands);
	cli_end(ctx, &common);
	return cli_close_stdout(status);
}
