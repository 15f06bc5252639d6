/* libconnstate: version information. */
#include "libconnstate.h"

const char *connstate_version(void)
{
    return CS_VERSION;
}
