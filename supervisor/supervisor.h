/* Private header of supervisor/: what the supervisor's modules share. */
#ifndef CS_SUPERVISOR_H
#define CS_SUPERVISOR_H

#include "cs_log.h"
#include "cs_proto.h"

#endif
