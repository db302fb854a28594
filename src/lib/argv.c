/* An argument vector built up piece by piece, always NULL-terminated. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "argv.h"
#include "strbuf.h"

/* Room for one more argument and the NULL after it. */
static void argv_grow(struct argv *a)
{
	if (a->n + 2 <= a->cap)
		return;
	size_t cap = a->cap ? a->cap * 2 : 16;
	a->v = xrealloc(a->v, cap * sizeof *a->v);
	a->cap = cap;
}

void argv_push_owned(struct argv *a, char *arg)
{
	argv_grow(a);
	a->v[a->n++] = arg;
	a->v[a->n] = NULL;
}

void argv_push(struct argv *a, const char *arg)
{
	argv_push_owned(a, xstrdup(arg));
}

void argv_pushf(struct argv *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	/* Measure, then format: xmalloc keeps the out-of-memory policy. */
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();	/* only a bad format string gets here */
	char *p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	argv_push_owned(a, p);
}

char *const *argv_vec(struct argv *a)
{
	argv_grow(a);	/* an empty vector still gets its NULL */
	a->v[a->n] = NULL;
	return a->v;
}

void argv_free(struct argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}
