#include "config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "extents.h"
#include "qemu.h"
#include "report.h"
#include "strbuf.h"

static void extents_add(struct extents *ex, uint64_t start, uint64_t length, bool zero)
{
	struct extent *last = ex->n ? &ex->v[ex->n - 1] : NULL;

	ex->bytes += length;
	if (last && last->start + last->length == start && last->zero == zero) {
		last->length += length;
		return;
	}
	if (ex->n == ex->cap) {
		ex->cap = ex->cap ? ex->cap * 2 : 64;
		ex->v = xrealloc(ex->v, ex->cap * sizeof(*ex->v));
	}
	ex->v[ex->n++] = (struct extent){ start, length, zero };
}

static int bad_map(const char *subject, const char *why)
{
	ovl_error(subject, "cannot read qemu-img map output: %s", why);
	return OVL_EXIT_FAILURE;
}

int extents_parse_map(const char *text, const char *subject, struct extents *ex)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	size_t i;
	json_t *e;

	memset(ex, 0, sizeof(*ex));
	if (!json_is_array(root)) {
		json_decref(root);
		return bad_map(subject, jerr.text[0] ? jerr.text : "not a list");
	}
	json_array_foreach(root, i, e) {
		json_int_t start = json_integer_value(json_object_get(e, "start"));
		json_int_t len = json_integer_value(json_object_get(e, "length"));
		if (!json_is_object(e) || start < 0 || len <= 0) {
			json_decref(root);
			extents_free(ex);
			return bad_map(subject, "an extent without start or length");
		}
		/* "present": allocated in this very image, zero clusters too. */
		if (json_is_true(json_object_get(e, "present")))
			extents_add(ex, (uint64_t)start, (uint64_t)len,
				    json_is_true(json_object_get(e, "zero")));
	}
	json_decref(root);
	return OVL_EXIT_OK;
}

int extents_of_overlay(const struct chain *c, struct extents *ex)
{
	struct argv args = ARGV_INIT;
	struct run_result res;
	int rc;

	memset(ex, 0, sizeof(*ex));
	argv_push(&args, "map");
	argv_push(&args, "-U");
	argv_push(&args, "--output=json");
	argv_push(&args, "--image-opts");
	argv_push_owned(&args, chain_image_opts(c, 0, false));
	rc = qemu_img(&args, QEMU_QUERY, chain_top(c)->path,
		      "cannot map the overlay's data", &res);
	argv_free(&args);
	if (rc == 0)
		rc = extents_parse_map(res.out, chain_top(c)->path, ex);
	else
		rc = OVL_EXIT_FAILURE;
	run_result_free(&res);
	return rc;
}

void extents_free(struct extents *ex)
{
	free(ex->v);
	memset(ex, 0, sizeof(*ex));
}
