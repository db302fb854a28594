#include "config.h"

#include "exitcodes.h"
#include "hist.h"
#include "report.h"

#ifndef HAVE_LIBGUESTFS
int hist_diff(struct store *s, int64_t seq, enum output_format out)
{
	(void)seq;
	(void)out;
	ovl_error(s->base, "cannot list guest files: ovl was built without libguestfs");
	return OVL_EXIT_FAILURE;
}
#else
int hist_diff(struct store *s, int64_t seq, enum output_format out)
{
	(void)seq;
	(void)out;
	ovl_error(s->base, "diff is not implemented yet");
	return OVL_EXIT_FAILURE;
}
#endif
