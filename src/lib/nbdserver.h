/*
 * A qemu-nbd of our own on a private unix socket, serving one image to one
 * connection: it exits when we disconnect.
 */
#ifndef OVL_NBDSERVER_H
#define OVL_NBDSERVER_H

#include <stdbool.h>
#include "nbd.h"
#include "run.h"

struct nbd_server {
	struct run_child child;
	char *dir;       /* private directory (0700) holding the socket */
	char *sock;
	struct nbd conn;
};

/*
 * Serve IMAGE_OPTS (qemu --image-opts) and connect to it.  NAME names the
 * image in messages.  An image another process holds gives OVL_EXIT_BUSY.
 * Returns an exit code, reported.
 */
int nbd_server_start(struct nbd_server *srv, const char *image_opts,
		     const char *name, bool read_only);

/* Disconnect, wait for qemu-nbd to exit, remove the socket directory.
 * Returns an exit code (qemu-nbd's failure is reported). */
int nbd_server_stop(struct nbd_server *srv);

#endif
