/* Private header of client/: what the CLI and libconnstate modules share. */
#ifndef CS_CLIENT_H
#define CS_CLIENT_H

#include "cs_buf.h"
#include "cs_log.h"

#endif
