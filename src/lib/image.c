#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exitcodes.h"
#include "files.h"
#include "image.h"
#include "qemu.h"
#include "report.h"
#include "strbuf.h"

static char *json_strdup(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? xstrdup(s) : NULL;
}

static bool json_flag(json_t *obj, const char *key)
{
	return json_is_true(json_object_get(obj, key));
}

static uint64_t json_u64(json_t *obj, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(obj, key));
	return v > 0 ? (uint64_t)v : 0;
}

static void parse_qcow2_specific(json_t *data, struct image *img)
{
	json_t *refbits = json_object_get(data, "refcount-bits");

	img->compat = json_strdup(data, "compat");
	img->compression_type = json_strdup(data, "compression-type");
	img->refcount_bits = json_is_integer(refbits) ? (int)json_integer_value(refbits) : 16;
	img->lazy_refcounts = json_flag(data, "lazy-refcounts");
	img->extended_l2 = json_flag(data, "extended-l2");
	img->corrupt_flag = json_flag(data, "corrupt");
	img->has_data_file = json_object_get(data, "data-file") != NULL ||
			     json_flag(data, "data-file-raw");
	img->encrypted = img->encrypted || json_object_get(data, "encrypt") != NULL;
}

int image_parse_info(const char *text, const char *subject, struct image *img)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	json_t *specific;

	if (!json_is_object(root)) {
		ovl_error(subject, "cannot read qemu-img info output: %s", jerr.text);
		json_decref(root);
		return OVL_EXIT_FAILURE;
	}
	img->virtual_size = json_u64(root, "virtual-size");
	img->actual_size = json_u64(root, "actual-size");
	img->cluster_size = json_u64(root, "cluster-size");
	img->encrypted = json_flag(root, "encrypted");
	img->backing_name = json_strdup(root, "backing-filename");
	img->backing_format = json_strdup(root, "backing-filename-format");
	specific = json_object_get(root, "format-specific");
	if (json_is_object(specific) &&
	    strcmp(json_string_value(json_object_get(specific, "type")) ?: "", "qcow2") == 0)
		parse_qcow2_specific(json_object_get(specific, "data"), img);
	json_decref(root);
	return OVL_EXIT_OK;
}

char *image_resolve_backing(const char *image_path, const char *name)
{
	char *dir, *full;

	if (name[0] == '/')
		return xstrdup(name);
	dir = path_dirname(image_path);
	full = path_join(dir, name);
	free(dir);
	return full;
}

static int run_info(const char *path, const char *format, struct run_result *res)
{
	struct argv args = ARGV_INIT;
	int status;

	argv_push(&args, "info");
	argv_push(&args, "-f");
	argv_push(&args, format);
	argv_push(&args, "--output=json");
	argv_push(&args, "-U");
	argv_push_owned(&args, qemu_path_arg(path));
	status = qemu_img(&args, QEMU_QUERY, NULL, NULL, res);
	argv_free(&args);
	return status;
}

int image_read(const char *path, const char *format, struct image *img)
{
	struct run_result res;
	struct stat st;
	int rc;

	memset(img, 0, sizeof(*img));
	if (stat(path, &st) < 0) {
		ovl_error_errno(path, errno, "cannot open");
		return OVL_EXIT_FAILURE;
	}
	if (run_info(path, format, &res) != 0) {
		char *why = qemu_failure_text(&res);
		ovl_error(path, "cannot read as %s image: %s", format, why);
		free(why);
		run_result_free(&res);
		return OVL_EXIT_FAILURE;
	}
	rc = image_parse_info(res.out, path, img);
	run_result_free(&res);
	if (rc != OVL_EXIT_OK) {
		image_free(img);
		return rc;
	}
	img->path = xstrdup(path);
	img->format = xstrdup(format);
	img->dev = st.st_dev;
	img->ino = st.st_ino;
	if (img->backing_name)
		img->backing_path = image_resolve_backing(path, img->backing_name);
	return OVL_EXIT_OK;
}

void image_free(struct image *img)
{
	free(img->path);
	free(img->format);
	free(img->compat);
	free(img->compression_type);
	free(img->backing_name);
	free(img->backing_format);
	free(img->backing_path);
	memset(img, 0, sizeof(*img));
}
