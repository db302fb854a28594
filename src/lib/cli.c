#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcodes.h"
#include "report.h"
#include "strbuf.h"

enum { OPT_HELP = 1000, OPT_VERSION, OPT_LONG_OPTIONS, OPT_OUTPUT };

static char *output_arg;
static char *store_arg;
/* popt points into this table until the context is freed (cli_end). */
static struct poptOption *cli_table;

/* The common options, each tagged with the CLI_* bit that enables it
 * (0: every tool has it). */
static const struct common_option {
	unsigned needs;
	struct poptOption opt;
} common_options[] = {
	{ 0, { "help", 'h', POPT_ARG_NONE, NULL, OPT_HELP, "show this help and exit", NULL } },
	{ 0, { "version", 'V', POPT_ARG_NONE, NULL, OPT_VERSION, "show the version and exit", NULL } },
	{ 0, { "quiet", 'q', POPT_ARG_NONE, NULL, 0, "print nothing but errors", NULL } },
	{ CLI_PROGRESS, { "progress", 'p', POPT_ARG_NONE, NULL, 0, "show progress on a terminal", NULL } },
	{ CLI_DRY_RUN, { "dry-run", 'n', POPT_ARG_NONE, NULL, 0, "print the plan, change nothing", NULL } },
	{ CLI_STORE, { "store", '\0', POPT_ARG_STRING, NULL, 0, "history store directory (default: BASE.history)", "DIR" } },
	{ CLI_OUTPUT, { "output", '\0', POPT_ARG_STRING, &output_arg, OPT_OUTPUT, "output format", "human|json" } },
	{ 0, { "long-options", '\0', POPT_ARG_NONE | POPT_ARGFLAG_DOC_HIDDEN, NULL, OPT_LONG_OPTIONS, NULL, NULL } },
};
#define N_COMMON (sizeof(common_options) / sizeof(common_options[0]))

static size_t count_options(const struct poptOption *o)
{
	size_t n = 0;
	while (o && (o[n].longName || o[n].shortName || o[n].argInfo))
		n++;
	return n;
}

/* Point the common options that store a value at this run's struct. */
static void *common_target(const char *name, struct cli_common *common)
{
	if (strcmp(name, "quiet") == 0) return &common->quiet;
	if (strcmp(name, "progress") == 0) return &common->progress;
	if (strcmp(name, "dry-run") == 0) return &common->dry_run;
	if (strcmp(name, "store") == 0) return &store_arg;
	if (strcmp(name, "output") == 0) return &output_arg;
	return NULL;
}

static struct poptOption *build_table(const struct cli_tool *tool, struct cli_common *common)
{
	size_t n_tool = count_options(tool->options);
	struct poptOption *t = xcalloc(n_tool + N_COMMON + 1, sizeof(*t));
	size_t n = 0;

	for (size_t i = 0; i < n_tool; i++)
		t[n++] = tool->options[i];
	for (size_t i = 0; i < N_COMMON; i++) {
		if (common_options[i].needs & ~tool->common)
			continue;
		t[n] = common_options[i].opt;
		t[n].arg = common_target(t[n].longName, common);
		n++;
	}
	return t;   /* calloc'ed: the last entry is POPT_TABLEEND */
}

static void print_option(const struct poptOption *o)
{
	char left[64];

	if (!o->descrip || (o->argInfo & POPT_ARGFLAG_DOC_HIDDEN))
		return;
	if (o->shortName)
		snprintf(left, sizeof(left), "-%c, --%s", o->shortName, o->longName);
	else
		snprintf(left, sizeof(left), "    --%s", o->longName);
	if (o->argDescrip)
		snprintf(left + strlen(left), sizeof(left) - strlen(left), "=%s", o->argDescrip);
	printf("  %-28s %s\n", left, o->descrip);
}

static void print_help(const struct cli_tool *tool, const struct poptOption *table)
{
	printf("Usage: %s %s\n%s\n\nOptions:\n", ovl_progname(), tool->synopsis, tool->summary);
	for (const struct poptOption *o = table; o->longName || o->shortName; o++)
		print_option(o);
	printf("\nExit status: 0 success, 1 failure, 2 usage error, 3 image or store busy.\n"
	       "See %s(1) for details.\n", ovl_progname());
}

static void print_long_options(const struct poptOption *table)
{
	for (const struct poptOption *o = table; o->longName || o->shortName; o++)
		if (o->longName && strcmp(o->longName, "long-options") != 0)
			printf("--%s\n", o->longName);
}

int cli_usage_error(const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	char *msg;

	/* The values quoted in it are the caller's: escaped like any message. */
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	ovl_escape_add(&sb, msg ? msg : fmt, OVL_ESC_LINE);
	free(msg);
	fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n", ovl_progname(),
		sb_str(&sb), ovl_progname());
	sb_free(&sb);
	return OVL_EXIT_USAGE;
}

static int parse_output(struct cli_common *common)
{
	if (strcmp(output_arg, "human") == 0)
		common->output = OUTPUT_HUMAN;
	else if (strcmp(output_arg, "json") == 0)
		common->output = OUTPUT_JSON;
	else
		return cli_usage_error("invalid --output value '%s' (human or json)", output_arg);
	return OVL_EXIT_OK;
}

/* Options popt hands back to us by value; 0 means "keep going". */
static int handle_option(int val, const struct cli_tool *tool,
			 const struct poptOption *table, struct cli_common *common, bool *done)
{
	switch (val) {
	case OPT_HELP:
		print_help(tool, table);
		*done = true;
		return OVL_EXIT_OK;
	case OPT_VERSION:
		printf("%s (%s) %s\n", ovl_progname(), PACKAGE_NAME, PACKAGE_VERSION);
		*done = true;
		return OVL_EXIT_OK;
	case OPT_LONG_OPTIONS:
		print_long_options(table);
		*done = true;
		return OVL_EXIT_OK;
	case OPT_OUTPUT:
		return parse_output(common);
	}
	return cli_usage_error("unexpected option code %d", val);
}

static int collect_operands(poptContext ctx, const struct cli_tool *tool,
			    const char ***operands, int *n_operands)
{
	const char **args = poptGetArgs(ctx);
	int n = 0;

	while (args && args[n])
		n++;
	if (n < tool->min_operands)
		return cli_usage_error("missing operand");
	if (tool->max_operands >= 0 && n > tool->max_operands)
		return cli_usage_error("too many operands");
	*operands = xcalloc((size_t)n + 1, sizeof(**operands));
	for (int i = 0; i < n; i++)
		(*operands)[i] = args[i];
	*n_operands = n;
	return OVL_EXIT_OK;
}

static int parse_loop(poptContext ctx, const struct cli_tool *tool,
		      const struct poptOption *table, struct cli_common *common, bool *done)
{
	int val, rc;

	while ((val = poptGetNextOpt(ctx)) > 0) {
		rc = handle_option(val, tool, table, common, done);
		if (rc || *done)
			return rc;
	}
	if (val < -1)
		return cli_usage_error("%s: %s", poptBadOption(ctx, POPT_BADOPTION_NOALIAS),
				       poptStrerror(val));
	return OVL_EXIT_OK;
}

int cli_parse(int argc, const char **argv, const struct cli_tool *tool,
	      struct cli_common *common, poptContext *ctx,
	      const char ***operands, int *n_operands, bool *done)
{
	struct poptOption *table;
	int rc;

	memset(common, 0, sizeof(*common));
	*done = false;
	*operands = NULL;
	*n_operands = 0;
	ovl_set_progname(argv[0]);
	table = cli_table = build_table(tool, common);
	*ctx = poptGetContext(ovl_progname(), argc, argv, table, 0);
	rc = parse_loop(*ctx, tool, table, common, done);
	if (rc == OVL_EXIT_OK && !*done)
		rc = collect_operands(*ctx, tool, operands, n_operands);
	if (store_arg)
		common->store = store_arg;
	else if (getenv("OVL_STORE") && *getenv("OVL_STORE"))
		common->store = xstrdup(getenv("OVL_STORE"));
	store_arg = NULL;
	free(output_arg);
	output_arg = NULL;
	ovl_set_quiet(common->quiet);
	return rc;
}

void cli_end(poptContext ctx, struct cli_common *common)
{
	poptFreeContext(ctx);
	free(cli_table);
	cli_table = NULL;
	free(common->store);
	common->store = NULL;
}

int cli_close_stdout(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		int saved = errno;
		if (saved != EPIPE)
			ovl_error_errno(NULL, saved, "cannot write output");
		return status ? status : OVL_EXIT_FAILURE;
	}
	return status;
}
