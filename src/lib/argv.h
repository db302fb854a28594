/* An argument vector built up piece by piece, NULL-terminated. */
#ifndef OVL_ARGV_H
#define OVL_ARGV_H

#include <stddef.h>

struct argv {
	char **v;
	size_t n;
	size_t cap;
};

#define ARGV_INIT { NULL, 0, 0 }

void argv_push(struct argv *a, const char *arg);
void argv_pushf(struct argv *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Take ownership of a malloc'ed string. */
void argv_push_owned(struct argv *a, char *arg);
/* The vector as execv() wants it (never NULL, even when empty). */
char *const *argv_vec(struct argv *a);
void argv_free(struct argv *a);

#endif
