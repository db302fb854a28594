/*
 * A minimal NBD client for talking to a qemu-nbd that this process started
 * on a private unix socket: fixed-newstyle handshake with
 * NBD_OPT_EXPORT_NAME, simple replies, one request in flight.
 *
 * Undo reads the pristine copy and writes the base through qemu-nbd, so
 * qemu does the format work (raw or qcow2) and takes qemu's image locks,
 * while the data moves in large blocks with no process per piece.
 */
#ifndef OVL_NBD_H
#define OVL_NBD_H

#include <stddef.h>
#include <stdint.h>

struct nbd {
	int fd;
	uint64_t size;      /* export size */
	uint16_t flags;     /* transmission flags */
	uint64_t handle;
	const char *name;   /* for messages: the image behind the export */
};

/* Largest request we send; qemu-nbd accepts up to 32 MiB. */
#define NBD_MAX_REQUEST (4u << 20)

/* Connect to SOCKET_PATH and negotiate; NAME is the image, for messages.
 * Returns an exit code, reported. */
int nbd_connect(struct nbd *n, const char *socket_path, const char *name);
/* The same, silent: 0, or -1 with errno (not serving yet, say).  A
 * timeout_ms above 0 bounds each wait for the server's reply. */
int nbd_try_connect(struct nbd *n, const char *socket_path, const char *name,
		    unsigned timeout_ms);
int nbd_read(struct nbd *n, uint64_t offset, void *buf, size_t len);
int nbd_write(struct nbd *n, uint64_t offset, const void *buf, size_t len);
int nbd_write_zeroes(struct nbd *n, uint64_t offset, uint64_t len);
int nbd_flush(struct nbd *n);
/* Say goodbye (the server then exits) and close. */
void nbd_close(struct nbd *n);

#endif
