/* Private header of client/lib/ (libconnstate): the public API it implements and the
 * internal modules it is built from (logging, buffers, the wire protocol). Nothing here is
 * exported: the library is compiled with -fvisibility=hidden and only the functions that
 * include/connstate.h marks CONNSTATE_EXPORT leave libconnstate.so. */
#ifndef CS_LIBCONNSTATE_H
#define CS_LIBCONNSTATE_H

#include "connstate.h"

#include "cs_buf.h"
#include "cs_log.h"
#include "cs_proto.h"
#include "cs_wire.h"

#endif
