/* Private header of common/: what its modules share. */
#ifndef CS_COMMON_PRIVATE_H
#define CS_COMMON_PRIVATE_H

#include "cs_buf.h"
#include "cs_config.h"
#include "cs_log.h"
#include "cs_marker.h"

#endif
