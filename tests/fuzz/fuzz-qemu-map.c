/*
 * The `qemu-img map --output=json` parser (src/lib/extents.c):
 * extents_parse_map() on the input.  Its extents decide which byte ranges
 * of a base undo rewrites, so beyond memory safety the target checks what
 * the parser promises of a map it accepts: extents in order, none
 * overlapping or empty, every end (and every end of stored data in the
 * file) within what an off_t can address, and "bytes" their sum.
 */
#include "config.h"

#include "extents.h"
#include "fuzz-common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet();
	return 0;
}

static void check_map(const struct extents *ex)
{
	uint64_t end = 0, sum = 0;

	for (size_t i = 0; i < ex->n; i++) {
		const struct extent *e = &ex->v[i];
		FUZZ_CHECK(e->length > 0);
		FUZZ_CHECK(e->start >= end);
		FUZZ_CHECK(e->length <= (uint64_t)INT64_MAX - e->start);
		FUZZ_CHECK(e->offset >= -1);
		FUZZ_CHECK(e->offset < 0 || e->length <= (uint64_t)INT64_MAX - (uint64_t)e->offset);
		FUZZ_CHECK(!e->zero || e->offset == -1);
		end = e->start + e->length;
		sum += e->length;
	}
	FUZZ_CHECK(sum == ex->bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);
	struct extents ex;

	if (extents_parse_map(text, "fuzz", &ex) == 0)
		check_map(&ex);
	else
		FUZZ_CHECK(ex.n == 0 && ex.v == NULL);
	extents_free(&ex);
	free(text);
	return 0;
}
