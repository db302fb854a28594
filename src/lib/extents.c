#include "config.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "extents.h"
#include "qemu.h"
#include "report.h"
#include "strbuf.h"

static bool continues(const struct extent *last, uint64_t start, bool zero, int64_t offset)
{
	if (!last || last->start + last->length != start || last->zero != zero)
		return false;
	if (last->offset < 0 || offset < 0)
		return last->offset < 0 && offset < 0;
	return (uint64_t)last->offset + last->length == (uint64_t)offset;
}

static void extents_add(struct extents *ex, uint64_t start, uint64_t length,
			bool zero, int64_t offset)
{
	struct extent *last = ex->n ? &ex->v[ex->n - 1] : NULL;

	ex->bytes += length;
	if (continues(last, start, zero, offset)) {
		last->length += length;
		return;
	}
	if (ex->n == ex->cap) {
		ex->cap = ex->cap ? ex->cap * 2 : 64;
		ex->v = xrealloc(ex->v, ex->cap * sizeof(*ex->v));
	}
	ex->v[ex->n++] = (struct extent){ start, length, zero, offset };
}

static void add_entry(struct extents *ex, json_t *e, uint64_t start, uint64_t len)
{
	bool zero = json_is_true(json_object_get(e, "zero"));
	json_t *off = json_object_get(e, "offset");
	int64_t offset = -1;

	/* Data with a host offset is stored plainly at that offset. */
	if (!zero && json_is_true(json_object_get(e, "data")) && json_is_integer(off))
		offset = json_integer_value(off);
	extents_add(ex, start, len, zero, offset);
}

static int bad_map(const char *subject, const char *why)
{
	ovl_error(subject, "cannot read qemu-img map output: %s", why);
	return OVL_EXIT_FAILURE;
}

/*
 * Why entry E of a map cannot follow an entry that ended at END, or NULL.
 * qemu-img lists an image's ranges once each, in order; a list that does
 * not (a changed qemu-img, or output that is not its own) would make undo
 * rewrite ranges twice or in the wrong order, and an end or a data offset
 * past what an off_t holds would overflow where the map is used.
 */
static const char *bad_entry(json_t *e, uint64_t end)
{
	json_t *jstart = json_object_get(e, "start"), *jlen = json_object_get(e, "length");
	json_t *off = json_object_get(e, "offset");
	json_int_t start = json_integer_value(jstart), len = json_integer_value(jlen);

	if (!json_is_object(e) || !json_is_integer(jstart) || !json_is_integer(jlen) ||
	    start < 0 || len <= 0)
		return "an extent without start or length";
	if ((uint64_t)start < end)
		return "extents out of order or overlapping";
	if (len > INT64_MAX - start)
		return "an extent past the largest file offset";
	if (off && (!json_is_integer(off) || json_integer_value(off) < 0 ||
		    len > INT64_MAX - json_integer_value(off)))
		return "an extent whose data lies outside any file";
	return NULL;
}

int extents_parse_map(const char *text, const char *subject, struct extents *ex)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	uint64_t end = 0;
	size_t i;
	json_t *e;

	memset(ex, 0, sizeof(*ex));
	if (!json_is_array(root)) {
		json_decref(root);
		return bad_map(subject, jerr.text[0] ? jerr.text : "not a list");
	}
	json_array_foreach(root, i, e) {
		const char *why = bad_entry(e, end);
		if (why) {
			json_decref(root);
			extents_free(ex);
			return bad_map(subject, why);
		}
		uint64_t start = (uint64_t)json_integer_value(json_object_get(e, "start"));
		uint64_t len = (uint64_t)json_integer_value(json_object_get(e, "length"));
		end = start + len;
		/* "present": allocated in this very image, zero clusters too. */
		if (json_is_true(json_object_get(e, "present")))
			add_entry(ex, e, start, len);
	}
	json_decref(root);
	return OVL_EXIT_OK;
}

static int map_image(const char *image_opts, const char *subject, struct extents *ex)
{
	struct argv args = ARGV_INIT;
	struct run_result res;
	int rc;

	argv_push(&args, "map");
	argv_push(&args, "-U");
	argv_push(&args, "--output=json");
	argv_push(&args, "--image-opts");
	argv_push(&args, image_opts);
	rc = qemu_img(&args, QEMU_QUERY, subject, "cannot map the image's data", &res);
	argv_free(&args);
	rc = rc == 0 ? extents_parse_map(res.out, subject, ex) : OVL_EXIT_FAILURE;
	run_result_free(&res);
	return rc;
}

int extents_of_overlay(const struct chain *c, struct extents *ex)
{
	char *opts = chain_image_opts(c, 0, false);
	int rc;

	memset(ex, 0, sizeof(*ex));
	rc = map_image(opts, chain_top(c)->path, ex);
	free(opts);
	return rc;
}

struct extents_job {
	pthread_t thread;
	bool started;
	char *opts;
	char *subject;
	struct extents ex;
	int rc;
};

static void *map_thread(void *arg)
{
	struct extents_job *job = arg;

	job->rc = map_image(job->opts, job->subject, &job->ex);
	return NULL;
}

struct extents_job *extents_of_overlay_start(const struct chain *c)
{
	struct extents_job *job = xcalloc(1, sizeof(*job));

	job->opts = chain_image_opts(c, 0, false);
	job->subject = xstrdup(chain_top(c)->path);
	job->started = pthread_create(&job->thread, NULL, map_thread, job) == 0;
	if (!job->started)
		job->rc = map_image(job->opts, job->subject, &job->ex);
	return job;
}

int extents_job_join(struct extents_job *job, struct extents *ex)
{
	int rc;

	if (job->started)
		pthread_join(job->thread, NULL);
	rc = job->rc;
	if (ex)
		*ex = job->ex;
	else
		extents_free(&job->ex);
	free(job->opts);
	free(job->subject);
	free(job);
	return rc;
}

int extents_of_file(const char *path, struct extents *ex)
{
	char *file = qemu_opt_escape(path);
	char *opts = xasprintf("driver=qcow2,file.driver=file,file.filename=%s,backing=", file);
	int rc;

	memset(ex, 0, sizeof(*ex));
	rc = map_image(opts, path, ex);
	free(opts);
	free(file);
	return rc;
}

void extents_free(struct extents *ex)
{
	free(ex->v);
	memset(ex, 0, sizeof(*ex));
}

static void put_le(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_le(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void *extents_pack(const struct extent *v, size_t n, size_t *len)
{
	unsigned char *blob = xmalloc(n ? n * EXTENT_RECORD : 1);

	for (size_t i = 0; i < n; i++) {
		unsigned char *r = blob + i * EXTENT_RECORD;
		put_le(r, v[i].start);
		put_le(r + 8, v[i].length);
		put_le(r + 16, (uint64_t)v[i].offset);
		r[24] = v[i].zero;
	}
	*len = n * EXTENT_RECORD;
	return blob;
}

int extents_unpack(const void *blob, size_t len, struct extent **v, size_t *n)
{
	const unsigned char *p = blob;

	*v = NULL;
	*n = 0;
	if (len % EXTENT_RECORD)
		return -1;
	*n = len / EXTENT_RECORD;
	*v = xmalloc(*n ? *n * sizeof(**v) : 1);
	for (size_t i = 0; i < *n; i++, p += EXTENT_RECORD)
		(*v)[i] = (struct extent){ get_le(p), get_le(p + 8), p[24] != 0,
					   (int64_t)get_le(p + 16) };
	return 0;
}

/* What is wrong with extent E on its own, in an image of SIZE bytes. */
static const char *extent_problem(const struct extent *e, uint64_t size)
{
	if (e->length == 0)
		return "extent of length zero";
	if (e->length > UINT64_MAX - e->start)
		return "extent's start + length overflows";
	if (e->start + e->length > size)
		return "extent reaches past the image's end";
	/* A negative offset other than "none", or one whose data would end
	 * past what a file offset can say, cannot be read from an archive. */
	if (e->offset < -1 || (e->offset >= 0 && e->length > (uint64_t)(INT64_MAX - e->offset)))
		return "extent's host offset is out of range";
	return NULL;
}

const char *extents_validate(const struct extent *v, size_t n, uint64_t size, size_t *at)
{
	for (size_t i = 0; i < n; i++) {
		const char *why = extent_problem(&v[i], size);
		if (!why && i && v[i].start < v[i - 1].start)
			why = "extent map out of order";
		else if (!why && i && v[i].start < v[i - 1].start + v[i - 1].length)
			why = "extent overlaps the one before";
		if (why) {
			*at = i;
			return why;
		}
	}
	return NULL;
}
