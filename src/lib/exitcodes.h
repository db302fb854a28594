/* Exit statuses of every ovl tool: an interface that scripts rely on. */
#ifndef OVL_EXITCODES_H
#define OVL_EXITCODES_H

enum ovl_exit {
	OVL_EXIT_OK = 0,      /* success, also "nothing to do" */
	OVL_EXIT_FAILURE = 1, /* the operation failed */
	OVL_EXIT_USAGE = 2,   /* bad command line */
	OVL_EXIT_BUSY = 3,    /* an image or the store is held by someone else */
};

/*
 * The worse of two statuses, for tools that process several operands.
 * A failure outranks "busy" (busy means: try again later), and both
 * outrank success.  Usage errors end a run before any operand.
 */
static inline int ovl_exit_worst(int a, int b)
{
	static const int rank[] = { 0, 3, 4, 2 };
	int ra = (a >= 0 && a <= 3) ? rank[a] : 3;
	int rb = (b >= 0 && b <= 3) ? rank[b] : 3;
	return ra >= rb ? a : b;
}

#endif
