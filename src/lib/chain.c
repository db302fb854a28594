#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "exitcodes.h"
#include "files.h"
#include "qemu.h"
#include "report.h"
#include "siblings.h"
#include "strbuf.h"

/* qemu's own rule (path_has_protocol): a ':' before any '/' makes the
 * name "protocol:rest"; "json:" is one such protocol. */
static bool names_protocol(const char *name)
{
	size_t n = strcspn(name, ":/");
	return name[n] == ':';
}

static bool supported_format(const char *fmt)
{
	return strcmp(fmt, "raw") == 0 || strcmp(fmt, "qcow2") == 0;
}

static int refuse(const char *path, const char *why)
{
	ovl_error(path, "refusing to work on this image: %s", why);
	return OVL_EXIT_FAILURE;
}

/* What qemu-img info says of one image that makes it unsafe to touch. */
static int judge_image(const struct image *img)
{
	if (img->has_data_file)
		return refuse(img->path, "it has a qcow2 external data file "
			      "(qemu-img would copy and hole-punch that host file)");
	if (img->encrypted)
		return refuse(img->path, "it is encrypted");
	if (img->corrupt_flag)
		return refuse(img->path, "its header marks it corrupt");
	if (!img->backing_name)
		return OVL_EXIT_OK;
	if (names_protocol(img->backing_name)) {
		ovl_error(img->path, "refusing to work on this image: its backing "
			  "name %s is a json: or protocol name, not a file",
			  ovl_quote(img->backing_name));
		return OVL_EXIT_FAILURE;
	}
	if (!img->backing_format)
		return refuse(img->path, "it records no backing format "
			      "(qemu would probe the base's format)");
	if (!supported_format(img->backing_format)) {
		ovl_error(img->path, "refusing to work on this image: backing "
			  "format %s is not raw or qcow2", ovl_quote(img->backing_format));
		return OVL_EXIT_FAILURE;
	}
	return OVL_EXIT_OK;
}

static int check_top_file(const char *abs)
{
	struct stat st;

	if (lstat(abs, &st) < 0) {
		ovl_error_errno(abs, errno, "cannot open");
		return OVL_EXIT_FAILURE;
	}
	if (S_ISLNK(st.st_mode))
		return refuse(abs, "it is a symbolic link; name the file it points to");
	if (!S_ISREG(st.st_mode))
		return refuse(abs, "it is not a regular file");
	return OVL_EXIT_OK;
}

static int check_backing_file(const struct image *child)
{
	struct stat st;

	if (stat(child->backing_path, &st) < 0) {
		ovl_error_errno(child->backing_path, errno,
				"cannot open backing file of %s", ovl_quote(child->path));
		return OVL_EXIT_FAILURE;
	}
	if (!S_ISREG(st.st_mode))
		return refuse(child->backing_path, "the backing file is not a regular file");
	return OVL_EXIT_OK;
}

static bool seen_before(const struct chain *c, const struct image *img)
{
	for (size_t i = 0; i + 1 < c->depth; i++)
		if (c->img[i].dev == img->dev && c->img[i].ino == img->ino)
			return true;
	return false;
}

/* Read image N of the chain (N >= 1) from the name its child records;
 * READ_AHEAD, when not NULL, is that image already read (and is taken). */
static int read_level(struct chain *c, size_t n, struct image *read_ahead)
{
	const struct image *child = &c->img[n - 1];
	int rc;

	if (n >= CHAIN_MAX_DEPTH)
		return refuse(c->img[0].path, "its backing chain is deeper than 16 images");
	rc = check_backing_file(child);
	if (rc)
		return rc;
	if (read_ahead) {
		c->img[n] = *read_ahead;
		memset(read_ahead, 0, sizeof(*read_ahead));
	} else
		rc = image_read(child->backing_path, child->backing_format, &c->img[n]);
	if (rc)
		return rc;
	c->depth = n + 1;
	if (seen_before(c, &c->img[n])) {
		ovl_error(c->img[0].path, "refusing to work on this image: backing loop "
			  "(%s comes back in its own chain)", ovl_quote(c->img[n].path));
		return OVL_EXIT_FAILURE;
	}
	return judge_image(&c->img[n]);
}

static int read_top(struct chain *c, const char *abs)
{
	int rc = check_top_file(abs);

	if (rc)
		return rc;
	rc = image_read(abs, "qcow2", &c->img[0]);
	if (rc)
		return rc;
	c->depth = 1;
	rc = judge_image(&c->img[0]);
	if (rc)
		return rc;
	if (!c->img[0].backing_name)
		return refuse(abs, "it has no backing file, so it is not an overlay");
	return OVL_EXIT_OK;
}

/*
 * The base as the overlay's own header names it, read with qemu-img info
 * while qemu-img reads the overlay: on two cores that halves the wait.
 * Only a guess: it is used only if qemu-img's answer for the overlay names
 * the same file and format, and the guess is judged by the same rules
 * before anything is run on it (a plain file name, raw or qcow2, a
 * regular file).  Errors from the guess are muted; a miss is read again.
 */
struct base_guess {
	pthread_t thread;
	bool started;
	char *path;
	char *format;
	struct image img;
	int rc;
};

static void *guess_thread(void *arg)
{
	struct base_guess *g = arg;

	ovl_mute_thread(true);
	g->rc = image_read(g->path, g->format, &g->img);
	return NULL;
}

static bool plausible_base(const char *name, const char *format, const char *path)
{
	struct stat st;

	return !names_protocol(name) && supported_format(format) &&
	       stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void guess_start(struct base_guess *g, const char *overlay)
{
	int fd = open(overlay, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct qcow2_header h = { 0 };

	memset(g, 0, sizeof(*g));
	if (fd >= 0) {
		qcow2_header_read(fd, &h);
		close(fd);
	}
	if (h.backing && h.backing_format) {
		g->path = image_resolve_backing(overlay, h.backing);
		g->format = h.backing_format;
		h.backing_format = NULL;
		if (plausible_base(h.backing, g->format, g->path))
			g->started = pthread_create(&g->thread, NULL, guess_thread, g) == 0;
	}
	qcow2_header_free(&h);
}

/* Wait for the guess; true, with *img filled, if it is the image that
 * CHILD (NULL: none was read) really names. */
static bool guess_take(struct base_guess *g, const struct image *child, struct image *img)
{
	bool hit = false;

	if (g->started) {
		pthread_join(g->thread, NULL);
		hit = g->rc == OVL_EXIT_OK && child && child->backing_path &&
		      child->backing_format && strcmp(g->path, child->backing_path) == 0 &&
		      strcmp(g->format, child->backing_format) == 0;
		if (hit)
			*img = g->img;
		else if (g->rc == OVL_EXIT_OK)
			image_free(&g->img);
	}
	free(g->path);
	free(g->format);
	return hit;
}

/* qemu-img check of each level runs beside the walk down the chain: the
 * check of the overlay overlaps reading its base.  All are joined before
 * chain_open returns: even -U queries hold qemu's shared lock, and a lock
 * probe must never see our own children. */
struct check_job {
	pthread_t thread;
	bool started;
	const struct image *img;
	int rc;
};

static void *check_thread(void *arg)
{
	struct check_job *job = arg;

	job->rc = image_check(job->img);
	return NULL;
}

static void start_check(struct check_job *job, const struct image *img)
{
	job->img = img;
	job->started = pthread_create(&job->thread, NULL, check_thread, job) == 0;
	if (!job->started)
		job->rc = image_check(img);
}

static int join_checks(struct check_job *jobs, size_t n)
{
	int rc = OVL_EXIT_OK;

	for (size_t i = 0; i < n; i++) {
		if (jobs[i].started)
			pthread_join(jobs[i].thread, NULL);
		if (jobs[i].rc && !rc)
			rc = jobs[i].rc;
	}
	return rc;
}

int chain_open(const char *overlay_path, struct chain *c)
{
	return chain_open_hooked(overlay_path, c, NULL);
}

int chain_open_hooked(const char *overlay_path, struct chain *c, const struct chain_hook *hook)
{
	struct check_job jobs[CHAIN_MAX_DEPTH] = { 0 };
	char *abs = path_absolute(overlay_path);
	struct base_guess guess;
	struct image base = { 0 };
	bool have_base;
	size_t started = 0;
	int rc, checks;

	memset(c, 0, sizeof(*c));
	if (!abs) {
		ovl_error_errno(overlay_path, errno, "cannot open");
		return OVL_EXIT_FAILURE;
	}
	guess_start(&guess, abs);
	rc = read_top(c, abs);
	free(abs);
	have_base = guess_take(&guess, rc ? NULL : &c->img[0], &base);
	if (!rc && hook)
		rc = check_backing_file(&c->img[0]);
	if (!rc && hook)
		rc = hook->top_read(c, hook->arg);
	if (!rc)
		start_check(&jobs[started++], &c->img[0]);
	for (size_t n = 1; rc == OVL_EXIT_OK && c->img[n - 1].backing_name; n++) {
		rc = read_level(c, n, n == 1 && have_base ? &base : NULL);
		if (!rc)
			start_check(&jobs[started++], &c->img[n]);
	}
	if (have_base)
		image_free(&base);     /* not taken: the walk stopped before it */
	checks = join_checks(jobs, started);
	if (!rc)
		rc = checks;
	if (rc)
		chain_free(c);
	return rc;
}

void chain_free(struct chain *c)
{
	for (size_t i = 0; i < c->depth; i++)
		image_free(&c->img[i]);
	c->depth = 0;
}

static void add_level_opts(struct strbuf *sb, const char *prefix, const struct image *img)
{
	char *file = qemu_opt_escape(img->path);

	sb_addf(sb, "%sdriver=%s,%sfile.driver=file,%sfile.filename=%s",
		prefix, img->format, prefix, prefix, file);
	free(file);
}

char *chain_image_opts(const struct chain *c, size_t level, bool with_backing)
{
	struct strbuf sb = STRBUF_INIT;
	struct strbuf prefix = STRBUF_INIT;

	sb_add(&prefix, "");
	for (size_t i = level; i < c->depth; i++) {
		if (i > level)
			sb_add(&sb, ",");
		add_level_opts(&sb, sb_str(&prefix), &c->img[i]);
		if (!c->img[i].backing_name)
			break;
		if (!with_backing) {
			/* An empty reference: open without any backing file. */
			sb_addf(&sb, ",%sbacking=", sb_str(&prefix));
			break;
		}
		sb_add(&prefix, "backing.");
	}
	sb_free(&prefix);
	return sb_detach(&sb);
}

int image_check(const struct image *img)
{
	struct chain one = { .depth = 1 };
	struct argv args = ARGV_INIT;
	struct run_result res;
	int status;

	if (strcmp(img->format, "qcow2") != 0)
		return OVL_EXIT_OK;
	one.img[0] = *img;
	argv_push(&args, "check");
	argv_push(&args, "-U");
	argv_push(&args, "--output=json");
	argv_push(&args, "--image-opts");
	argv_push_owned(&args, chain_image_opts(&one, 0, false));
	status = qemu_img(&args, QEMU_QUERY, NULL, NULL, &res);
	argv_free(&args);
	if (status == 0 || status == 3) {      /* 3: leaked clusters only */
		run_result_free(&res);
		return OVL_EXIT_OK;
	}
	if (status == 2)
		ovl_error(img->path, "refusing to work on this image: qemu-img check "
			  "finds it corrupt (writing to it could destroy data)");
	else {
		char *why = qemu_failure_text(&res);
		ovl_error(img->path, "cannot check image: %s", why);
		free(why);
	}
	run_result_free(&res);
	return OVL_EXIT_FAILURE;
}

int image_check_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *backing = fd >= 0 ? qcow2_header_backing(fd) : NULL;
	/* Checked on its own: a backing name in its header is stale. */
	struct image img = { .path = (char *)path, .format = (char *)"qcow2",
			     .backing_name = backing ? backing : (char *)"" };
	int rc = image_check(&img);

	if (fd >= 0)
		close(fd);
	free(backing);
	return rc;
}
