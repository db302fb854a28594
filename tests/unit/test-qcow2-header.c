/*
 * Tests of the qcow2 header fields we read ourselves (siblings.c): the
 * backing name and the backing format extension, from headers built here
 * byte by byte, well-formed and not.  A wrong answer is harmless only if
 * it is "none": chain.c uses these to read the base ahead as a guess, and
 * the sibling scan to find other overlays of a base.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "siblings.h"
#include "tap.h"

#define EXT_BACKING_FORMAT 0xe2792acau
#define EXT_FEATURE_TABLE 0x6803f857u

struct image_bytes {
	unsigned char b[8192];
	size_t ext_at;          /* where the next extension goes */
};

static void put_be32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void put_be64(unsigned char *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* A version 2 (72-byte) or 3 (104-byte) header, no extension yet. */
static void header(struct image_bytes *img, uint32_t version)
{
	memset(img, 0, sizeof(*img));
	put_be32(img->b, 0x514649fbu);
	put_be32(img->b + 4, version);
	put_be32(img->b + 20, 16);                  /* cluster_bits */
	put_be64(img->b + 24, UINT64_C(1) << 30);   /* size */
	if (version >= 3)
		put_be32(img->b + 100, 104);        /* header_length */
	img->ext_at = version >= 3 ? 104 : 72;
}

static void extension(struct image_bytes *img, uint32_t type, const void *data, uint32_t len)
{
	put_be32(img->b + img->ext_at, type);
	put_be32(img->b + img->ext_at + 4, len);
	memcpy(img->b + img->ext_at + 8, data, len);
	img->ext_at += 8 + ((len + 7) & ~7u);
}

static void backing_name(struct image_bytes *img, const char *name)
{
	size_t at = 4096;

	memcpy(img->b + at, name, strlen(name));
	put_be64(img->b + 8, at);
	put_be32(img->b + 16, (uint32_t)strlen(name));
}

/* The image written to a temporary file, opened for reading. */
static int as_file(const struct image_bytes *img)
{
	char path[] = "/tmp/ovl-test-header.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, img->b, sizeof(img->b)) != (ssize_t)sizeof(img->b)) {
		perror("test-qcow2-header: temporary file");
		exit(99);
	}
	unlink(path);
	return fd;
}

static void expect_format(const struct image_bytes *img, const char *want, const char *what)
{
	int fd = as_file(img);
	struct qcow2_header h;

	qcow2_header_read(fd, &h);
	is_str(h.backing_format, want, "backing format: %s", what);
	qcow2_header_free(&h);
	close(fd);
}

static void test_format_found(void)
{
	struct image_bytes img;
	static const uint32_t table[12] = { 0 };

	header(&img, 3);
	extension(&img, EXT_BACKING_FORMAT, "raw", 3);
	extension(&img, 0, "", 0);
	expect_format(&img, "raw", "v3, first extension");

	header(&img, 3);
	extension(&img, EXT_FEATURE_TABLE, table, sizeof(table));
	extension(&img, EXT_BACKING_FORMAT, "qcow2", 5);
	extension(&img, 0, "", 0);
	expect_format(&img, "qcow2", "v3, after another extension (padding skipped)");

	header(&img, 2);
	extension(&img, EXT_BACKING_FORMAT, "raw", 3);
	extension(&img, 0, "", 0);
	expect_format(&img, "raw", "v2, extensions start at byte 72");
}

static void test_format_absent_or_bad(void)
{
	struct image_bytes img;
	static const uint32_t table[12] = { 0 };

	header(&img, 3);
	extension(&img, EXT_FEATURE_TABLE, table, sizeof(table));
	extension(&img, 0, "", 0);
	expect_format(&img, NULL, "none recorded");

	header(&img, 3);
	extension(&img, 0, "", 0);
	extension(&img, EXT_BACKING_FORMAT, "raw", 3);
	expect_format(&img, NULL, "after the end marker: not read");

	header(&img, 3);
	extension(&img, EXT_BACKING_FORMAT, "r\0w", 3);
	expect_format(&img, NULL, "a NUL inside the name");

	header(&img, 3);
	extension(&img, EXT_BACKING_FORMAT, "raw", 3);
	put_be32(img.b + 104 + 4, 0xfffffff0u);
	expect_format(&img, NULL, "a length past the end");

	header(&img, 3);
	extension(&img, EXT_BACKING_FORMAT, "qcow2qcow2qcow2qcow2qcow2qcow2qcow2", 35);
	expect_format(&img, NULL, "a name longer than any format's");

	header(&img, 3);
	put_be32(img.b, 0x12345678u);
	extension(&img, EXT_BACKING_FORMAT, "raw", 3);
	expect_format(&img, NULL, "not qcow2 at all");
}

static void test_backing_name(void)
{
	struct image_bytes img;
	struct qcow2_header h;
	int fd;

	header(&img, 3);
	backing_name(&img, "../images/base.img");
	extension(&img, EXT_BACKING_FORMAT, "raw", 3);
	extension(&img, 0, "", 0);
	fd = as_file(&img);
	is_int(qcow2_header_read(fd, &h), 0, "header read");
	is_str(h.backing, "../images/base.img", "backing name as written");
	is_str(h.backing_format, "raw", "backing format beside it");
	ok(h.size == UINT64_C(1) << 30 && h.cluster_bits == 16 && h.version == 3,
	   "size, cluster bits and version");
	qcow2_header_free(&h);
	close(fd);

	header(&img, 3);
	fd = as_file(&img);
	char *name = qcow2_header_backing(fd);
	is_str(name, NULL, "no backing name");
	free(name);
	close(fd);
}

int main(void)
{
	test_format_found();
	test_format_absent_or_bad();
	test_backing_name();
	return done_testing();
}
