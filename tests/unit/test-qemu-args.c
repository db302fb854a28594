/*
 * Tests of the argument helpers in qemu.c: no file name may reach
 * qemu-img as a protocol ("a:b.img") or an option ("-x.img"), and values
 * inside -o / --image-opts have their commas doubled.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "qemu.h"
#include "tap.h"

static bool starts_with(const char *s, const char *prefix)
{
	return s && !strncmp(s, prefix, strlen(prefix));
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = s ? strlen(s) : 0, m = strlen(suffix);

	return s && n >= m && !strcmp(s + n - m, suffix);
}

static void path_is(const char *path, const char *want)
{
	char *got = qemu_path_arg(path);

	is_str(got, want, "qemu_path_arg(\"%s\")", path);
	free(got);
}

/* Relative paths: "./" in front, the name itself kept at the end. */
static void path_relative(const char *path)
{
	char *got = qemu_path_arg(path);

	ok(starts_with(got, "./") && ends_with(got, path),
	   "qemu_path_arg(\"%s\") = \"%s\" is anchored", path,
	   got ? got : "(null)");
	free(got);
}

static void test_path_arg(void)
{
	path_is("a:b.img", "./a:b.img");
	path_is("-x.img", "./-x.img");
	path_is("dir/x", "./dir/x");
	path_is("json:{}", "./json:{}");
	path_is("/abs/a:b", "/abs/a:b");
	path_is("/-x.img", "/-x.img");
	path_relative("./x");
	path_relative("../up/a:b");
	path_relative("nbd:localhost:10809");
	path_relative("x");
}

static void escape_is(const char *value, const char *want)
{
	char *got = qemu_opt_escape(value);

	is_str(got, want, "qemu_opt_escape(\"%s\")", value);
	free(got);
}

static void test_opt_escape(void)
{
	escape_is("a,b,,c", "a,,b,,,,c");
	escape_is("", "");
	escape_is(",", ",,");
	escape_is("a,", "a,,");
	escape_is("/p/x y\nz", "/p/x y\nz");
	escape_is("file.filename=x", "file.filename=x");
}

int main(void)
{
	test_path_arg();
	test_opt_escape();
	return done_testing();
}
