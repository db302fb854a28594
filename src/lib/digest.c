#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "digest.h"
#include "exitcodes.h"
#include "progress.h"
#include "report.h"
#include "strbuf.h"

#define CHUNK (1u << 20)

struct digest {
	XXH3_state_t *state;
	uint64_t next;      /* first offset not yet hashed */
};

static void put_le64(unsigned char out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(v >> (8 * i));
}

static bool all_zero(const unsigned char *p, size_t n)
{
	/* p[0] == 0 and every byte equals its successor: all zero. */
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

struct digest *digest_new(void)
{
	struct digest *d = xcalloc(1, sizeof(*d));

	d->state = XXH3_createState();
	if (!d->state || XXH3_128bits_reset(d->state) != XXH_OK) {
		fprintf(stderr, "%s: out of memory\n", ovl_progname());
		abort();
	}
	return d;
}

void digest_feed(struct digest *d, uint64_t offset, const unsigned char *buf, size_t len)
{
	unsigned char le[8];

	for (size_t at = 0; at < len; at += DIGEST_BLOCK) {
		size_t n = len - at < DIGEST_BLOCK ? len - at : DIGEST_BLOCK;
		if (offset + at < d->next || all_zero(buf + at, n))
			continue;
		put_le64(le, offset + at);
		XXH3_128bits_update(d->state, le, sizeof(le));
		XXH3_128bits_update(d->state, buf + at, n);
	}
	if (offset + len > d->next)
		d->next = offset + len;
}

void digest_finish(struct digest *d, uint64_t file_size, char out[DIGEST_STR_LEN])
{
	XXH128_canonical_t canon;
	unsigned char le[8];

	put_le64(le, file_size);
	XXH3_128bits_update(d->state, le, sizeof(le));
	/* Canonical (big-endian) order: what xxhsum -H2 prints. */
	XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(d->state));
	strcpy(out, DIGEST_PREFIX);
	for (size_t i = 0; i < sizeof(canon.digest); i++)
		snprintf(out + strlen(DIGEST_PREFIX) + 2 * i, 3, "%02x", canon.digest[i]);
	XXH3_freeState(d->state);
	free(d);
}

static int read_chunks(int fd, uint64_t from, uint64_t to, unsigned char *buf,
		       segment_fn fn, void *arg)
{
	for (uint64_t at = from; at < to;) {
		size_t want = to - at < CHUNK ? (size_t)(to - at) : CHUNK;
		ssize_t got = pread(fd, buf, want, (off_t)at);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EIO;   /* the file shrank under us */
			return -1;
		}
		if (fn(arg, at, buf, (size_t)got) < 0)
			return -1;
		at += (uint64_t)got;
	}
	return 0;
}

int for_each_data_chunk(int fd, uint64_t size, segment_fn fn, void *arg)
{
	unsigned char *buf = xmalloc(CHUNK);
	uint64_t pos = 0;
	int rc = 0;

	while (rc == 0 && pos < size) {
		off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
		if (data < 0) {
			rc = errno == ENXIO ? 0 : -1;   /* ENXIO: only a hole is left */
			break;
		}
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			hole = (off_t)size;
		/* Whole blocks only: reading into a hole just reads zeros. */
		uint64_t from = (uint64_t)data & ~(uint64_t)(DIGEST_BLOCK - 1);
		uint64_t to = ((uint64_t)hole + DIGEST_BLOCK - 1) & ~(uint64_t)(DIGEST_BLOCK - 1);
		if (to > size)
			to = size;
		rc = read_chunks(fd, from > pos ? from : pos, to, buf, fn, arg);
		pos = to;
	}
	free(buf);
	return rc;
}

struct feeding {
	struct digest *d;
	struct progress *pg;    /* NULL: none */
};

static int feed_chunk(void *arg, uint64_t offset, const unsigned char *buf, size_t len)
{
	struct feeding *f = arg;

	digest_feed(f->d, offset, buf, len);
	if (f->pg)
		progress_advance(f->pg, len);
	return 0;
}

int digest_fd(int fd, const char *path, char out[DIGEST_STR_LEN])
{
	return digest_fd_progress(fd, path, out, NULL);
}

int digest_fd_progress(int fd, const char *path, char out[DIGEST_STR_LEN],
		       struct progress *pg)
{
	struct feeding f = { NULL, pg };
	struct stat st;
	int rc;

	if (fstat(fd, &st) < 0) {
		ovl_error_errno(path, errno, "cannot open to checksum");
		return OVL_EXIT_FAILURE;
	}
	f.d = digest_new();
	rc = for_each_data_chunk(fd, (uint64_t)st.st_size, feed_chunk, &f);
	if (rc < 0)
		ovl_error_errno(path, errno, "cannot read to checksum");
	digest_finish(f.d, (uint64_t)st.st_size, out);
	return rc < 0 ? OVL_EXIT_FAILURE : OVL_EXIT_OK;
}

int digest_file(const char *path, char out[DIGEST_STR_LEN])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		ovl_error_errno(path, errno, "cannot open to checksum");
		return OVL_EXIT_FAILURE;
	}
	rc = digest_fd(fd, path, out);
	close(fd);
	return rc;
}

struct digest_job {
	pthread_t thread;
	bool threaded;
	char *path;
	int rc;
	char out[DIGEST_STR_LEN];
};

static void *digest_thread(void *arg)
{
	struct digest_job *job = arg;

	job->rc = digest_file(job->path, job->out);
	return NULL;
}

struct digest_job *digest_file_start(const char *path)
{
	struct digest_job *job = xcalloc(1, sizeof(*job));

	job->path = xstrdup(path);
	job->threaded = pthread_create(&job->thread, NULL, digest_thread, job) == 0;
	if (!job->threaded)   /* no thread: do it now, the result is the same */
		job->rc = digest_file(path, job->out);
	return job;
}

int digest_file_join(struct digest_job *job, char out[DIGEST_STR_LEN])
{
	int rc;

	if (job->threaded)
		pthread_join(job->thread, NULL);
	rc = job->rc;
	memcpy(out, job->out, DIGEST_STR_LEN);
	free(job->path);
	free(job);
	return rc;
}
