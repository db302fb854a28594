/*
 * The stored extent maps' decoder (src/lib/extents.c): extents_unpack()
 * on the input, as lineage_load() calls it on an extent_maps.map blob read
 * back from history.db (a file whose every byte may have been changed).
 *
 * Checked besides memory safety: a blob is accepted exactly when it is a
 * whole number of records, and decoding then encoding gives the blob back
 * (zero flags other than 0 and 1 read as 1).
 */
#include "config.h"

#include "extents.h"
#include "fuzz-common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet();
	return 0;
}

/* The blob with its zero flags made 0 or 1, as a decoder reads them. */
static uint8_t *normalised(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		abort();
	memcpy(copy, data, size);
	for (size_t at = EXTENT_RECORD - 1; at < size; at += EXTENT_RECORD)
		copy[at] = copy[at] != 0;
	return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct extent *v;
	size_t n, len;

	/* lineage_load hands over sqlite's pointer, NULL for an empty blob. */
	if (extents_unpack(size ? data : NULL, size, &v, &n) < 0) {
		FUZZ_CHECK(size % EXTENT_RECORD != 0);
		FUZZ_CHECK(!v && n == 0);
		return 0;
	}
	FUZZ_CHECK(size % EXTENT_RECORD == 0 && n == size / EXTENT_RECORD);
	void *again = extents_pack(v, n, &len);
	uint8_t *want = normalised(data, size);
	FUZZ_CHECK(len == size && memcmp(again, want, size) == 0);
	/* The check every stored map passes before an undo uses it: whatever
	 * it accepts is sorted, disjoint and inside the image. */
	size_t at;
	const uint64_t image = UINT64_C(1) << 40;
	if (!extents_validate(v, n, image, &at)) {
		for (size_t i = 0; i < n; i++) {
			FUZZ_CHECK(v[i].length > 0 && v[i].start + v[i].length <= image);
			FUZZ_CHECK(i == 0 || v[i - 1].start + v[i - 1].length <= v[i].start);
		}
	}
	free(want);
	free(again);
	free(v);
	return 0;
}
