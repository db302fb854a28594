/* Writing JSON straight to a stream, for output that can be long. */
#ifndef OVL_JSONOUT_H
#define OVL_JSONOUT_H

#include <stdio.h>

/* S as a JSON string (null for NULL).  Text that is not valid UTF-8
 * (messages and names are bytes) gets U+FFFD for each bad byte. */
void json_put_string(FILE *f, const char *s);

#endif
