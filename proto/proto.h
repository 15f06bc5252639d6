/* Private header of proto/: what the codec modules share. */
#ifndef CS_PROTO_PRIVATE_H
#define CS_PROTO_PRIVATE_H

#include "cs_buf.h"
#include "cs_proto.h"

#endif
