#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "argv.h"
#include "exitcodes.h"
#include "nbdserver.h"
#include "report.h"
#include "strbuf.h"

#define START_TIMEOUT_MS 15000
#define STOP_TIMEOUT_MS 60000

static void nap_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

/* TMPDIR, unless a socket path there would pass the 107 bytes a unix
 * socket name can have: then /tmp. */
static const char *tmp_root(void)
{
	const char *tmp = getenv("TMPDIR");

	if (!tmp || !*tmp || strlen(tmp) > 60)
		return "/tmp";
	return tmp;
}

/* A socket directory of a run that was killed: its owner is gone. */
static bool is_stale(const char *name)
{
	char *end;
	long pid;

	if (strncmp(name, "ovl-nbd.", 8) != 0)
		return false;
	pid = strtol(name + 8, &end, 10);
	return end != name + 8 && *end == '.' && pid > 0 &&
	       kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Remove what killed runs left in TMPDIR (a socket in a directory). */
static void sweep_stale(void)
{
	DIR *d = opendir(tmp_root());
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (!is_stale(de->d_name))
			continue;
		char *dir = xasprintf("%s/%s", tmp_root(), de->d_name);
		char *sock = xasprintf("%s/nbd.sock", dir);
		unlink(sock);
		rmdir(dir);
		free(sock);
		free(dir);
	}
	if (d)
		closedir(d);
}

static int make_socket_dir(struct nbd_server *srv)
{
	/* The pid in the name lets a later run tell a dead run's leftovers. */
	char *tmpl = xasprintf("%s/ovl-nbd.%ld.XXXXXX", tmp_root(), (long)getpid());

	srv->dir = mkdtemp(tmpl);
	if (!srv->dir) {
		ovl_error_errno(tmpl, errno, "cannot create a private directory");
		free(tmpl);
		return OVL_EXIT_FAILURE;
	}
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
		if (access(srv->sock, F_OK) == 0) {
			int rc = nbd_connect(&srv->conn, srv->sock, name);
			if (rc == OVL_EXIT_OK || run_poll(&srv->child) >= 0)
				return rc;
		} else if (run_poll(&srv->child) >= 0) {
			return report_dead(srv, name);
		}
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
	sweep_stale();
	rc = make_socket_dir(srv);
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
	if (srv->sock)
		unlink(srv->sock);
	if (srv->dir)
		rmdir(srv->dir);
	free(srv->sock);
	free(srv->dir);
	srv->sock = srv->dir = NULL;
	return status == 0 ? OVL_EXIT_OK : OVL_EXIT_FAILURE;
}
