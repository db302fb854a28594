/*
 * ovl-history diff in a build without libguestfs (configure
 * --without-libguestfs, or libguestfs not found): the subcommand exists,
 * so scripts see the same options, and says why it cannot run.
 */
#include "config.h"

#include "exitcodes.h"
#include "hist.h"
#include "report.h"

int hist_diff(struct store *s, int64_t seq, enum output_format out)
{
	(void)seq;
	(void)out;
	ovl_error(s->base, "cannot list guest files: ovl was built without libguestfs");
	return OVL_EXIT_FAILURE;
}
