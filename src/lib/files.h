/*
 * File steps that survive a crash: create under a fresh temporary name,
 * fsync, rename into place, fsync the directory.
 */
#ifndef OVL_FILES_H
#define OVL_FILES_H

#include <stdbool.h>
#include <sys/stat.h>

/* malloc'ed dirname/basename that never modify their argument. */
char *path_dirname(const char *path);
char *path_basename(const char *path);
/* DIR/NAME, malloc'ed. */
char *path_join(const char *dir, const char *name);
/* An absolute path: the directory canonicalized, the last part kept as is
 * (a symlink at PATH is not followed).  NULL with errno on failure. */
char *path_absolute(const char *path);

/*
 * The prefix of temporary files made for TARGET in its directory:
 * ".ovl-tmp-<hash of the name>-" (short, whatever TARGET's length).
 */
char *tmp_prefix_for(const char *target);

/*
 * Create an empty file, mode 0600, beside TARGET under a name that did not
 * exist before (O_CREAT|O_EXCL|O_NOFOLLOW, so a planted symlink or file is
 * never written through).  Returns the new path, malloc'ed, or NULL after
 * printing an error.
 */
char *tmp_create_beside(const char *target);

/*
 * The same, keeping the file open (O_RDWR, close-on-exec): its descriptor
 * is returned and its path put in *path (malloc'ed).  Work that must
 * reach this inode and no other goes through the descriptor (qemu-img is
 * handed "/dev/fd/N"): the name lies in a directory another user may
 * write, who could swap it.  -1 after printing an error.
 */
int tmp_create_beside_fd(const char *target, char **path);

/* Remove temporary files a crashed run left beside TARGET.  Returns how
 * many were removed, -1 on error (reported). */
int tmp_remove_leftovers(const char *target);

/* Remove every temporary file of ours in DIR (a directory only ovl
 * writes, such as a store, under its lock). */
int tmp_remove_all_in(const char *dir);

/* fsync a file or a directory by path. */
int fsync_path(const char *path, bool is_dir);
int fsync_parent_dir(const char *path);

/* rename FROM over TO (replacing it), then fsync TO's directory. */
int rename_replace(const char *from, const char *to);
/* rename FROM to TO, failing with EEXIST if TO exists; then fsync. */
int rename_noreplace(const char *from, const char *to);

/*
 * rename_replace() of a temporary file made by tmp_create_beside_fd,
 * then a check that the file now at TO is the inode FD holds.  If another
 * user swapped FROM in between, what was renamed is theirs (a file or link
 * in a directory they write, never written through by us): it is left
 * where it is and an error is reported (OVL_EXIT_FAILURE).
 */
int rename_replace_checked(const char *from, const char *to, int fd);

/*
 * Give the open file FD the owner, group and mode in ST, and the SELinux
 * label of LABEL_FROM where there is one (PATH only names it in
 * messages).  Reports errors.
 */
int copy_file_attrs_fd(int fd, const char *path, const struct stat *st,
		       const char *label_from);

/* fsync an open file; PATH names it in the message. */
int fsync_fd(int fd, const char *path);

#endif
