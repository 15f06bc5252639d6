/* libconnstate: the C client API of connstate (subscribe to state changes, wait for connections).
 */
#ifndef CONNSTATE_H
#define CONNSTATE_H

/* The library's version, "MAJOR.MINOR.PATCH"; borrowed. */
const char *connstate_version(void);

#endif
