/* Private header of workers/: what the worker's modules share. */
#ifndef CS_WORKER_H
#define CS_WORKER_H

#include "cs_log.h"
#include "cs_proto.h"

#endif
