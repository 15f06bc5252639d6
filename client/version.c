/* libconnstate: version information. */
#include "connstate.h"

const char *connstate_version(void)
{
    return CS_VERSION;
}
