/*
 * One overlay per base: committing into a base that another overlay still
 * uses corrupts that overlay's view.  Before a commit, the base's
 * directory is scanned for other qcow2 images whose header names the base.
 * Only headers are read (no qemu-img run per file), and nothing is opened
 * as an image.
 */
#ifndef OVL_SIBLINGS_H
#define OVL_SIBLINGS_H

#include <stdint.h>

/*
 * Look in BASE's directory for a qcow2 image other than OVERLAY whose
 * backing name resolves to BASE (both absolute, canonical).  Returns 0
 * when there is none, OVL_EXIT_FAILURE after naming the first found.
 */
int refuse_other_overlays(const char *base, const char *overlay);

/* The backing name in a qcow2 header read from FD, malloc'ed; NULL when
 * FD is not qcow2 or has no backing file. */
char *qcow2_header_backing(int fd);

/* The few header fields we read ourselves (images we just made). */
struct qcow2_header {
	uint32_t version;
	uint32_t cluster_bits;
	uint64_t size;
	uint64_t incompatible;   /* feature bits; bit 4: extended L2 */
	char *backing;           /* malloc'ed, or NULL */
	char *backing_format;    /* from the header extension; malloc'ed, or NULL */
};

/* 0, or -1 when FD is not qcow2.  Free with qcow2_header_free. */
int qcow2_header_read(int fd, struct qcow2_header *h);
void qcow2_header_free(struct qcow2_header *h);

#endif
