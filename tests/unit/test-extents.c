/*
 * Tests of extents.c's parsers: `qemu-img map --output=json` text, and the
 * packed maps kept in history.db.  The bad maps here are what fuzzing
 * (tests/fuzz/fuzz-qemu-map.c) found the parser accepting: extents out of
 * order or overlapping, ends and data offsets past what an off_t holds.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extents.h"
#include "report.h"
#include "tap.h"

#define E(start, len, extra) \
	"{\"start\": " #start ", \"length\": " #len ", \"present\": true" extra "}"
#define DATA(off) ", \"data\": true, \"zero\": false, \"offset\": " #off

/* A map as qemu-img writes it: only "present" extents are kept, zero ones
 * without an offset, touching ones of the same kind merged. */
static void test_real_map(void)
{
	static const char map[] =
		"[{ \"start\": 0, \"length\": 1048576, \"depth\": 0, \"present\": false, \"zero\": true, \"data\": false},\n"
		"{ \"start\": 1048576, \"length\": 65536, \"depth\": 0, \"present\": true, \"zero\": false, \"data\": true, \"offset\": 327680},\n"
		"{ \"start\": 1114112, \"length\": 65536, \"depth\": 0, \"present\": true, \"zero\": false, \"data\": true, \"offset\": 393216},\n"
		"{ \"start\": 1179648, \"length\": 65536, \"depth\": 0, \"present\": true, \"zero\": true, \"data\": false},\n"
		"{ \"start\": 1245184, \"length\": 1000, \"depth\": 0, \"present\": false, \"zero\": true, \"data\": false}]";
	struct extents ex;

	is_int(extents_parse_map(map, "test", &ex), 0, "a real map is read");
	is_int((int)ex.n, 2, "two extents: data (merged), zero");
	ok(ex.n == 2 && ex.v[0].start == 1048576 && ex.v[0].length == 131072 &&
	   ex.v[0].offset == 327680 && !ex.v[0].zero, "the data extent, merged");
	ok(ex.n == 2 && ex.v[1].start == 1179648 && ex.v[1].length == 65536 &&
	   ex.v[1].offset == -1 && ex.v[1].zero, "the zero extent, no offset");
	ok(ex.bytes == 196608, "bytes is the sum of the lengths");
	extents_free(&ex);
}

static void bad(const char *map, const char *what)
{
	struct extents ex;

	is_int(extents_parse_map(map, "test", &ex), 1, "refused: %s", what);
	ok(ex.n == 0 && ex.v == NULL, "  and nothing is left allocated");
}

static void test_bad_maps(void)
{
	bad("", "not JSON");
	bad("{}", "not a list");
	bad("[1]", "an entry that is not an object");
	bad("[{\"start\": 0}]", "no length");
	bad("[{\"start\": 0, \"length\": 0}]", "an empty extent");
	bad("[{\"start\": -1, \"length\": 5}]", "a negative start");
	bad("[{\"start\": 1.5, \"length\": 5}]", "a start that is not an integer");
	bad("[{\"start\": 0, \"length\": \"5\"}]", "a length that is not an integer");
	bad("[" E(65536, 65536, DATA(0)) ", " E(0, 65536, DATA(65536)) "]", "extents out of order");
	bad("[" E(0, 65536, DATA(0)) ", " E(4096, 65536, DATA(65536)) "]", "overlapping extents");
	bad("[{\"start\": 0, \"length\": 10, \"present\": false}, " E(5, 10, "") "]",
	    "an extent overlapping an absent one");
	bad("[" E(9223372036854775807, 1, "") "]", "an end past INT64_MAX");
	bad("[" E(4611686018427387904, 4611686018427387904, "") "]", "an end just past INT64_MAX");
	bad("[" E(0, 65536, DATA(-65536)) "]", "a negative data offset");
	bad("[" E(0, 65536, DATA(9223372036854775807)) "]", "data past INT64_MAX in the file");
	bad("[" E(0, 65536, ", \"data\": true, \"offset\": \"0\"") "]", "an offset that is not a number");
}

static void test_edges(void)
{
	struct extents ex;

	is_int(extents_parse_map("[]", "test", &ex), 0, "an empty map is read");
	ok(ex.n == 0 && ex.bytes == 0, "  and holds nothing");
	extents_free(&ex);
	is_int(extents_parse_map("[" E(4611686018427387904, 4611686018427387903, "") "]",
				 "test", &ex), 0, "an extent ending at INT64_MAX is read");
	extents_free(&ex);
}

static bool same_extent(const struct extent *a, const struct extent *b)
{
	return a->start == b->start && a->length == b->length && a->zero == b->zero &&
	       a->offset == b->offset;
}

/* Packed maps: a round trip, and blobs that are not whole records. */
static void test_pack(void)
{
	struct extent in[] = { { 0, 65536, true, -1 }, { 1 << 20, 4096, false, 327680 } };
	struct extent *out;
	size_t len, n;
	void *blob = extents_pack(in, 2, &len);

	is_int((int)len, 2 * EXTENT_RECORD, "two records packed");
	is_int(extents_unpack(blob, len, &out, &n), 0, "and unpacked");
	ok(n == 2 && same_extent(&out[0], &in[0]) && same_extent(&out[1], &in[1]), "  unchanged");
	free(out);
	is_int(extents_unpack(blob, len - 1, &out, &n), -1, "a cut record is refused");
	ok(out == NULL && n == 0, "  with nothing allocated");
	is_int(extents_unpack(NULL, 0, &out, &n), 0, "an empty blob (sqlite's NULL) is no extents");
	ok(n == 0, "  none");
	free(out);
	free(blob);
}

int main(void)
{
	ovl_set_progname("test-extents");
	ovl_mute_thread(true);   /* the refusals' messages are expected */
	test_real_map();
	test_bad_maps();
	test_edges();
	test_pack();
	return done_testing();
}
