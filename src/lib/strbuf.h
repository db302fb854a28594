/* A growable string, always NUL-terminated; aborts on out-of-memory. */
#ifndef OVL_STRBUF_H
#define OVL_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
};

#define STRBUF_INIT { NULL, 0, 0 }

void sb_add(struct strbuf *sb, const char *s);
void sb_addn(struct strbuf *sb, const char *s, size_t n);
void sb_addf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The buffer's string; "" when nothing was added. */
const char *sb_str(struct strbuf *sb);
/* Hand the string to the caller (malloc'ed) and reset the buffer. */
char *sb_detach(struct strbuf *sb);
void sb_free(struct strbuf *sb);

/* malloc/strdup that abort with a message instead of returning NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
