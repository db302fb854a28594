#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
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

int ovl_lock_acquire(const char *path, int create, unsigned wait_ms)
{
	int flags = O_RDONLY | O_CLOEXEC | (create ? O_CREAT | O_NOFOLLOW : 0);
	int fd = open(path, flags, 0600);
	unsigned waited = 0;

	if (fd < 0) {
		ovl_error_errno(path, errno, "cannot open lock");
		return -OVL_EXIT_FAILURE;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			ovl_error_errno(path, errno, "cannot lock");
			close(fd);
			return -OVL_EXIT_FAILURE;
		}
		if (waited >= wait_ms) {
			ovl_error(path, "another ovl process is working here; "
				  "gave up after %u s", wait_ms / 1000);
			close(fd);
			return -OVL_EXIT_BUSY;
		}
		sleep_ms(50);
		waited += 50;
	}
	return fd;
}

void ovl_lock_release(int fd)
{
	if (fd >= 0)
		close(fd);   /* closing drops the flock */
}
