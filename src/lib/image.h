/*
 * One image, read one level at a time with
 *   qemu-img info -f FORMAT --output=json -U ./file
 * which never probes the format and never opens the backing file.
 */
#ifndef OVL_IMAGE_H
#define OVL_IMAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct image {
	char *path;            /* absolute path of the file */
	char *format;          /* "qcow2" or "raw": the format it was read as */
	uint64_t virtual_size;
	uint64_t actual_size;
	dev_t dev;             /* identity of the file, for loop detection */
	ino_t ino;

	/* qcow2 only: what a fresh image must be created with to match. */
	uint64_t cluster_size;
	char *compat;          /* "0.10" or "1.1" */
	char *compression_type;/* "zlib", "zstd", or NULL when not reported */
	int refcount_bits;
	bool lazy_refcounts;
	bool extended_l2;

	/* qcow2 only: properties that make an image unsafe to work on. */
	bool has_data_file;
	bool encrypted;
	bool corrupt_flag;     /* the header's "corrupt" bit */

	char *backing_name;    /* as written in the header; NULL: no backing */
	char *backing_format;  /* as recorded; NULL: not recorded */
	char *backing_path;    /* backing_name resolved against our directory */
};

/*
 * Read PATH as FORMAT.  On failure prints an error naming the file and
 * returns OVL_EXIT_FAILURE; img is then empty.  Never opens the backing.
 */
int image_read(const char *path, const char *format, struct image *img);

/* Parse qemu-img info JSON into img (path/dev/ino are left alone). */
int image_parse_info(const char *json, const char *subject, struct image *img);

void image_free(struct image *img);
/* NAME (a backing name as written in IMAGE_PATH's header) resolved the
 * way qemu does: relative names against the image's directory. */
char *image_resolve_backing(const char *image_path, const char *name);

#endif
