/*
 * The `qemu-img info --output=json` parser (src/lib/image.c):
 * image_parse_info() on the input.  qemu-img writes that JSON, but from an
 * image the guest's owner wrote: backing names, formats and every number
 * come from the file.
 *
 * Checked besides memory safety: on failure nothing is left allocated in
 * the image (so a caller's image_free is harmless either way).
 */
#include "config.h"

#include "fuzz-common.h"
#include "image.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);
	struct image img;

	memset(&img, 0, sizeof(img));
	if (image_parse_info(text, "fuzz", &img) != 0)
		FUZZ_CHECK(!img.backing_name && !img.backing_format && !img.compat &&
			   !img.compression_type);
	image_free(&img);
	free(text);
	return 0;
}
