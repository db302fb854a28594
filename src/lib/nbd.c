#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "exitcodes.h"
#include "nbd.h"
#include "report.h"

#define NBD_MAGIC          0x4e42444d41474943ULL   /* "NBDMAGIC" */
#define NBD_IHAVEOPT       0x49484156454f5054ULL   /* "IHAVEOPT" */
#define NBD_REQUEST_MAGIC  0x25609513u
#define NBD_REPLY_MAGIC    0x67446698u
#define NBD_FLAG_FIXED_NEWSTYLE 1u
#define NBD_FLAG_NO_ZEROES      2u
#define NBD_OPT_EXPORT_NAME     1u
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)

enum { NBD_CMD_READ = 0, NBD_CMD_WRITE = 1, NBD_CMD_DISC = 2,
       NBD_CMD_FLUSH = 3, NBD_CMD_WRITE_ZEROES = 6 };

static void put_be(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_be(const unsigned char *p, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = (v << 8) | p[i];
	return v;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, MSG_WAITALL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fail(struct nbd *n, const char *what)
{
	ovl_error_errno(n->name, errno ? errno : EPROTO, "qemu-nbd %s", what);
	return OVL_EXIT_FAILURE;
}

static int open_socket(struct nbd *n, const char *path, unsigned timeout_ms)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000 };

	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr.sun_path, path);
	n->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0)
		return -1;
	if (timeout_ms && setsockopt(n->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	return connect(n->fd, (struct sockaddr *)&addr, sizeof(addr));
}

static int handshake(struct nbd *n)
{
	unsigned char hello[18], opt[16], client[4], reply[10];

	if (recv_all(n->fd, hello, sizeof(hello)) < 0)
		return -1;
	if (get_be(hello, 8) != NBD_MAGIC || get_be(hello + 8, 8) != NBD_IHAVEOPT) {
		errno = EPROTO;
		return -1;
	}
	uint16_t server_flags = (uint16_t)get_be(hello + 16, 2);
	uint32_t cflags = NBD_FLAG_FIXED_NEWSTYLE |
			  (server_flags & NBD_FLAG_NO_ZEROES ? NBD_FLAG_NO_ZEROES : 0);
	put_be(client, cflags, 4);
	put_be(opt, NBD_IHAVEOPT, 8);
	put_be(opt + 8, NBD_OPT_EXPORT_NAME, 4);
	put_be(opt + 12, 0, 4);          /* the default export: name "" */
	if (send_all(n->fd, client, 4) < 0 || send_all(n->fd, opt, 16) < 0 ||
	    recv_all(n->fd, reply, sizeof(reply)) < 0)
		return -1;
	n->size = get_be(reply, 8);
	n->flags = (uint16_t)get_be(reply + 8, 2);
	if (!(cflags & NBD_FLAG_NO_ZEROES)) {
		unsigned char pad[124];
		if (recv_all(n->fd, pad, sizeof(pad)) < 0)
			return -1;
	}
	return 0;
}

int nbd_try_connect(struct nbd *n, const char *socket_path, const char *name,
		    unsigned timeout_ms)
{
	int saved;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	n->name = name;
	if (open_socket(n, socket_path, timeout_ms) == 0 && handshake(n) == 0)
		return 0;
	saved = errno;
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
	errno = saved;
	return -1;
}

int nbd_connect(struct nbd *n, const char *socket_path, const char *name)
{
	if (nbd_try_connect(n, socket_path, name, 0) == 0)
		return OVL_EXIT_OK;
	return fail(n, "connection");
}

static int send_request(struct nbd *n, int type, uint64_t offset, uint32_t len)
{
	unsigned char req[28];

	put_be(req, NBD_REQUEST_MAGIC, 4);
	put_be(req + 4, 0, 2);
	put_be(req + 6, (uint64_t)type, 2);
	put_be(req + 8, ++n->handle, 8);
	put_be(req + 16, offset, 8);
	put_be(req + 24, len, 4);
	return send_all(n->fd, req, sizeof(req));
}

static int read_reply(struct nbd *n, const char *what)
{
	unsigned char rep[16];

	errno = 0;
	if (recv_all(n->fd, rep, sizeof(rep)) < 0 || get_be(rep, 4) != NBD_REPLY_MAGIC ||
	    get_be(rep + 8, 8) != n->handle)
		return fail(n, what);
	uint32_t error = (uint32_t)get_be(rep + 4, 4);
	if (error) {
		/* NBD errors are errno values (EIO, ENOSPC, ...). */
		ovl_error_errno(n->name, (int)error, "qemu-nbd %s", what);
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}

int nbd_read(struct nbd *n, uint64_t offset, void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		uint32_t chunk = (uint32_t)(len - done < NBD_MAX_REQUEST ? len - done : NBD_MAX_REQUEST);
		if (send_request(n, NBD_CMD_READ, offset + done, chunk) < 0)
			return fail(n, "read request");
		if (read_reply(n, "read") || recv_all(n->fd, (char *)buf + done, chunk) < 0)
			return fail(n, "read");
		done += chunk;
	}
	return OVL_EXIT_OK;
}

int nbd_write(struct nbd *n, uint64_t offset, const void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		uint32_t chunk = (uint32_t)(len - done < NBD_MAX_REQUEST ? len - done : NBD_MAX_REQUEST);
		if (send_request(n, NBD_CMD_WRITE, offset + done, chunk) < 0 ||
		    send_all(n->fd, (const char *)buf + done, chunk) < 0)
			return fail(n, "write request");
		if (read_reply(n, "write"))
			return OVL_EXIT_FAILURE;
		done += chunk;
	}
	return OVL_EXIT_OK;
}

static int write_zeroes_by_data(struct nbd *n, uint64_t offset, uint64_t len)
{
	size_t bufsize = len < NBD_MAX_REQUEST ? (size_t)len : NBD_MAX_REQUEST;
	void *zeros = calloc(1, bufsize);
	int rc = zeros ? OVL_EXIT_OK : OVL_EXIT_FAILURE;

	for (uint64_t done = 0; rc == OVL_EXIT_OK && done < len;) {
		size_t chunk = len - done < bufsize ? (size_t)(len - done) : bufsize;
		rc = nbd_write(n, offset + done, zeros, chunk);
		done += chunk;
	}
	free(zeros);
	return rc;
}

int nbd_write_zeroes(struct nbd *n, uint64_t offset, uint64_t len)
{
	if (!(n->flags & NBD_FLAG_SEND_WRITE_ZEROES))
		return write_zeroes_by_data(n, offset, len);
	for (uint64_t done = 0; done < len;) {
		uint32_t chunk = (uint32_t)(len - done < (1u << 30) ? len - done : (1u << 30));
		if (send_request(n, NBD_CMD_WRITE_ZEROES, offset + done, chunk) < 0)
			return fail(n, "write-zeroes request");
		if (read_reply(n, "write-zeroes"))
			return OVL_EXIT_FAILURE;
		done += chunk;
	}
	return OVL_EXIT_OK;
}

int nbd_flush(struct nbd *n)
{
	if (send_request(n, NBD_CMD_FLUSH, 0, 0) < 0)
		return fail(n, "flush request");
	return read_reply(n, "flush");
}

void nbd_close(struct nbd *n)
{
	if (n->fd >= 0) {
		send_request(n, NBD_CMD_DISC, 0, 0);
		close(n->fd);
	}
	n->fd = -1;
}
