/*
 * Private scratch directories for sockets and lists, named
 *   ROOT/TAG.PID.XXXXXX
 * where ROOT is $TMPDIR when it is short and plain (a socket path must fit
 * in 107 bytes and pass through qemu and libguestfs unharmed), else /tmp.
 * The pid lets a later run tell what a killed run left behind.
 */
#ifndef OVL_PRIVDIR_H
#define OVL_PRIVDIR_H

/* Make one (0700), after removing the TAG directories of dead owners.
 * Malloc'ed path, or NULL after reporting (SUBJECT names the work). */
char *privdir_create(const char *tag, const char *subject);

/* Remove DIR and the files in it (not recursively); frees DIR. */
void privdir_remove(char *dir);

#endif
