/*
 * Tests of the stored extent map: packing, unpacking, and the check every
 * map read back from history.db goes through (extents_validate) before
 * an undo may use it.  Good maps pass; each kind of damage is named,
 * with the index of the first bad extent.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extents.h"
#include "tap.h"

#define M (1u << 20)

/* extents_validate on N extents, expecting WANT (NULL: valid) at AT. */
static void expect(const char *what, const struct extent *v, size_t n, uint64_t size,
		   const char *want, size_t want_at)
{
	size_t at = SIZE_MAX;
	const char *why = extents_validate(v, n, size, &at);

	if (!is_str(why, want, "%s", what))
		return;
	if (want)
		is_int((long long)at, (long long)want_at, "%s: at extent %zu", what, want_at);
}

static void test_good_maps(void)
{
	static const struct extent touching[] = {
		{ 0, M, false, 3 * M }, { M, M, true, -1 }, { 2 * M, M, false, -1 },
	};
	static const struct extent gaps[] = {
		{ 4096, 4096, false, 0 }, { 64 * 1024, M, false, 8192 }, { 15 * M, M, true, -1 },
	};
	static const struct extent big[] = {
		{ 0, UINT64_C(1) << 62, false, INT64_MAX - (INT64_C(1) << 62) },
	};

	expect("an empty map is valid", NULL, 0, 16 * M, NULL, 0);
	expect("touching extents of different kinds are valid", touching, 3, 3 * M, NULL, 0);
	expect("sorted extents with gaps, the last one ending at the image's end", gaps, 3,
	       16 * M, NULL, 0);
	expect("a host offset whose data ends exactly at INT64_MAX is valid", big, 1,
	       UINT64_C(1) << 62, NULL, 0);
}

static void test_bad_maps(void)
{
	static const struct extent unsorted[] = {
		{ 0, M, false, 0 }, { 8 * M, M, false, M }, { 4 * M, M, false, 2 * M },
	};
	static const struct extent overlapping[] = {
		{ 0, 2 * M, false, 0 }, { M, M, false, 2 * M },
	};
	static const struct extent same_start[] = {
		{ M, M, false, 0 }, { M, M, true, -1 },
	};
	static const struct extent past_end[] = {
		{ 0, M, false, 0 }, { 15 * M, 2 * M, false, M },
	};
	static const struct extent overflow[] = {
		{ UINT64_MAX - 4095, 8192, true, -1 },
	};
	static const struct extent zero_length[] = {
		{ 0, M, false, 0 }, { 2 * M, 0, true, -1 },
	};
	static const struct extent bad_offset[] = {
		{ 0, M, false, -2 },
	};
	static const struct extent offset_overflow[] = {
		{ 0, M, false, INT64_MAX - 4096 },
	};

	expect("extents out of order", unsorted, 3, 16 * M, "extent map out of order", 2);
	expect("overlapping extents", overlapping, 2, 16 * M, "extent overlaps the one before", 1);
	expect("two extents at one start", same_start, 2, 16 * M,
	       "extent overlaps the one before", 1);
	expect("an extent past the image's end", past_end, 2, 16 * M,
	       "extent reaches past the image's end", 1);
	expect("start + length overflows", overflow, 1, UINT64_MAX,
	       "extent's start + length overflows", 0);
	expect("an extent of length zero", zero_length, 2, 16 * M, "extent of length zero", 1);
	expect("a negative host offset other than -1", bad_offset, 1, 16 * M,
	       "extent's host offset is out of range", 0);
	expect("host offset + length past INT64_MAX", offset_overflow, 1, 16 * M,
	       "extent's host offset is out of range", 0);
	expect("an image of size 0 holds no extent", unsorted, 1, 0,
	       "extent reaches past the image's end", 0);
}

static void test_pack_round_trip(void)
{
	static const struct extent v[] = {
		{ 0, M, false, 5 * M }, { M, 4096, true, -1 }, { UINT64_C(1) << 40, M, false, -1 },
	};
	struct extent *back = NULL;
	size_t len, n = 0;
	void *blob = extents_pack(v, 3, &len);

	is_int((long long)len, 3 * EXTENT_RECORD, "three extents pack into 3 records");
	ok(extents_unpack(blob, len, &back, &n) == 0 && n == 3 &&
	   back[0].offset == 5 * M && back[1].zero &&
	   back[1].offset == -1 && back[2].start == UINT64_C(1) << 40 && back[2].offset == -1,
	   "unpacking gives the same extents back");
	free(back);
	ok(extents_unpack(blob, len - 1, &back, &n) < 0 && back == NULL && n == 0,
	   "a blob one byte short is refused, nothing returned");
	ok(extents_unpack(blob, len + 7, &back, &n) < 0 && back == NULL,
	   "a blob with a partial record at the end is refused");
	ok(extents_unpack(blob, 0, &back, &n) == 0 && n == 0, "an empty blob is an empty map");
	free(back);
	free(blob);
}

int main(void)
{
	test_good_maps();
	test_bad_maps();
	test_pack_round_trip();
	return done_testing();
}
