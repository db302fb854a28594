#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "argv.h"
#include "exitcodes.h"
#include "nbdserver.h"
#include "privdir.h"
#include "report.h"
#include "strbuf.h"

#define START_TIMEOUT_MS 15000
#define STOP_TIMEOUT_MS 60000

static void nap_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

static int make_socket_dir(struct nbd_server *srv, const char *name)
{
	srv->dir = privdir_create("ovl-nbd", name);
	if (!srv->dir)
		return OVL_EXIT_FAILURE;
	srv->sock = xasprintf("%s/nbd.sock", srv->dir);
	return OVL_EXIT_OK;
}

static int spawn_server(struct nbd_server *srv, const char *image_opts, bool read_only)
{
	struct argv args = ARGV_INIT;
	int e;

	argv_push(&args, "qemu-nbd");
	argv_push(&args, "--image-opts");
	argv_push(&args, "--discard=unmap");
	if (read_only)
		argv_push(&args, "--read-only");
	argv_push(&args, "--socket");
	argv_push(&args, srv->sock);
	argv_push(&args, image_opts);
	e = run_start(argv_vec(&args), &srv->child);
	argv_free(&args);
	return e;
}

/* qemu-nbd died before serving: say why, in its own words. */
static int report_dead(struct nbd_server *srv, const char *name)
{
	char *err = NULL;

	run_finish(&srv->child, 0, &err);
	bool busy = err && strstr(err, "lock");
	ovl_error(name, "%s: %s", busy ? "image is in use" : "cannot serve the image",
		  err && *err ? strtok(err, "\n") : "qemu-nbd exited");
	free(err);
	return busy ? OVL_EXIT_BUSY : OVL_EXIT_FAILURE;
}

static int connect_when_ready(struct nbd_server *srv, const char *name)
{
	for (long waited = 0; waited < START_TIMEOUT_MS; waited += 5) {
		/* qemu-nbd listens before its image is open: only a finished
		 * handshake means it serves. */
		if (access(srv->sock, F_OK) == 0 &&
		    nbd_try_connect(&srv->conn, srv->sock, name, START_TIMEOUT_MS) == 0)
			return OVL_EXIT_OK;
		if (run_poll(&srv->child) >= 0)
			return report_dead(srv, name);
		nap_ms(5);
	}
	ovl_error(name, "qemu-nbd did not start serving in time");
	return OVL_EXIT_FAILURE;
}

int nbd_server_start(struct nbd_server *srv, const char *image_opts,
		     const char *name, bool read_only)
{
	int rc, e;

	memset(srv, 0, sizeof(*srv));
	srv->child.pid = -1;
	srv->child.err_fd = -1;
	srv->conn.fd = -1;
	rc = make_socket_dir(srv, name);
	if (rc)
		return rc;
	e = spawn_server(srv, image_opts, read_only);
	if (e) {
		ovl_error_errno(name, e, "cannot run qemu-nbd");
		nbd_server_stop(srv);
		return OVL_EXIT_FAILURE;
	}
	rc = connect_when_ready(srv, name);
	if (rc)
		nbd_server_stop(srv);
	return rc;
}

int nbd_server_stop(struct nbd_server *srv)
{
	bool served = srv->conn.fd >= 0;
	char *err = NULL;
	int status = 0;

	nbd_close(&srv->conn);
	/* Served: it exits once we hang up.  Never connected: stop it. */
	if (srv->child.pid > 0 || srv->child.err_fd >= 0)
		status = run_finish(&srv->child, served ? STOP_TIMEOUT_MS : 0, &err);
	if (served && status != 0)
		ovl_error(srv->conn.name, "qemu-nbd failed: %s",
			  err && *err ? strtok(err, "\n") : "exit status not 0");
	free(err);
	privdir_remove(srv->dir);
	free(srv->sock);
	srv->sock = srv->dir = NULL;
	return status == 0 ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
}
