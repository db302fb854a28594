#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"
#include "lock.h"
#include "report.h"

/* qemu's file-posix locks: byte 100+P when it uses permission P,
 * 200+P when it refuses to share P.  Anything in 100..299 is a user. */
#define QEMU_LOCK_START 100
#define QEMU_LOCK_LEN 200

int probe_qemu_locks(const char *path)
{
	struct flock fl = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = QEMU_LOCK_START,
		.l_len = QEMU_LOCK_LEN,
	};
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		ovl_error_errno(path, errno, "cannot open to probe its locks");
		return OVL_EXIT_FAILURE;
	}
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
		ovl_error_errno(path, errno, "cannot probe image locks");
		close(fd);
		return OVL_EXIT_FAILURE;
	}
	close(fd);
	if (fl.l_type == F_UNLCK)
		return OVL_EXIT_OK;
	ovl_error(path, "image is in use (a running VM, qemu-nbd or qemu-img "
		  "holds its lock); stop it first");
	return OVL_EXIT_BUSY;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int ovl_lock_fd(int fd, int how, const char *shown, unsigned wait_ms)
{
	unsigned waited = 0;

	while (flock(fd, how | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			ovl_error_errno(shown, errno, "cannot lock");
			return OVL_EXIT_FAILURE;
		}
		if (waited >= wait_ms) {
			ovl_error(shown, "another ovl process is working here; "
				  "gave up after %u s", wait_ms / 1000);
			return OVL_EXIT_BUSY;
		}
		sleep_ms(50);
		waited += 50;
	}
	return OVL_EXIT_OK;
}

int ovl_lock_overlay(const char *path, int *fd)
{
	struct stat st;
	int rc;

	*fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0) {
		if (errno == ENOENT || errno == ELOOP)
			return OVL_EXIT_OK;   /* judged (and refused) by the chain's reader */
		ovl_error_errno(path, errno, "cannot open to lock");
		return OVL_EXIT_FAILURE;
	}
	/* Not an image file: nothing to lock; the chain's reader refuses it. */
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode))
		rc = -1;
	else
		rc = ovl_lock_fd(*fd, LOCK_EX, path, OVL_LOCK_WAIT_MS);
	if (rc) {
		close(*fd);
		*fd = -1;
	}
	return rc < 0 ? OVL_EXIT_OK : rc;
}

void ovl_lock_release(int fd)
{
	if (fd >= 0)
		close(fd);   /* closing drops the flock */
}
