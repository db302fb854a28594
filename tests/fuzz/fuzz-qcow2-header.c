/*
 * The qcow2 header reader (src/lib/siblings.c): qcow2_header_read() and
 * qcow2_header_backing() on a file holding the input.  Every overlay, every
 * file in a directory scanned for siblings, and every operand that locate
 * looks at goes through them, and the guest's owner writes those bytes.
 *
 * Checked besides memory safety: a backing name is 1..1023 bytes with no
 * NUL (what the reader promises), a backing format 1..31, and both readers
 * agree on the backing name.
 */
#include "config.h"

#include "fuzz-common.h"
#include "siblings.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet();
	return 0;
}

static void check_name(const char *name, size_t max)
{
	if (!name)
		return;
	size_t len = strlen(name);
	FUZZ_CHECK(len >= 1 && len <= max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = fuzz_fd(data, size);
	struct qcow2_header h;
	char *backing = qcow2_header_backing(fd);

	if (qcow2_header_read(fd, &h) == 0) {
		FUZZ_CHECK(size >= 72);
		check_name(h.backing, 1023);
		check_name(h.backing_format, 31);
		FUZZ_CHECK((backing == NULL) == (h.backing == NULL));
		FUZZ_CHECK(!backing || strcmp(backing, h.backing) == 0);
		qcow2_header_free(&h);
	} else {
		FUZZ_CHECK(!h.backing && !h.backing_format);
	}
	check_name(backing, 1023);
	free(backing);
	return 0;
}
