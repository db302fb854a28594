/*
 * What every tool's command line has in common: -h/--help, -V/--version,
 * -q/--quiet, -p/--progress, --store, --output, -n/--dry-run, and the
 * hidden --long-options that the docs test and completions use.
 */
#ifndef OVL_CLI_H
#define OVL_CLI_H

#include <popt.h>
#include <stdbool.h>

enum output_format { OUTPUT_HUMAN, OUTPUT_JSON };

struct cli_common {
	int quiet;
	int progress;
	int dry_run;
	char *store;          /* --store DIR, else $OVL_STORE, else NULL */
	enum output_format output;
};

/* What the tool tells cli_parse about itself. */
struct cli_tool {
	const char *synopsis;     /* "[options] OVERLAY..." */
	const char *summary;      /* one line: what the tool does */
	/* The tool's own, POPT_TABLEEND'ed; each stores through its arg
	 * pointer (val 0) and is validated by the tool after cli_parse. */
	const struct poptOption *options;
	unsigned common;          /* which common options it takes: CLI_* */
	int min_operands;
	int max_operands;         /* -1: unlimited */
};

#define CLI_DRY_RUN  (1u << 0)
#define CLI_STORE    (1u << 1)
#define CLI_OUTPUT   (1u << 2)
#define CLI_PROGRESS (1u << 3)

/*
 * Parse argv.  Handles --help/--version/--long-options itself (prints and
 * returns 0 with *done set), reports usage errors on stderr with a hint to
 * --help and returns OVL_EXIT_USAGE.  On success *operands is a
 * NULL-terminated array (free with free(); strings belong to the context)
 * and the caller must call cli_end() when done.
 */
int cli_parse(int argc, const char **argv, const struct cli_tool *tool,
	      struct cli_common *common, poptContext *ctx,
	      const char ***operands, int *n_operands, bool *done);

/* Release the context and what cli_parse allocated (last thing in main). */
void cli_end(poptContext ctx, struct cli_common *common);

/* Report a usage error "PROG: MESSAGE" + hint; returns OVL_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Flush stdout and turn a write error (EPIPE, ENOSPC) into a failure. */
int cli_close_stdout(int status);

#endif
