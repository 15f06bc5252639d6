/* Writes one encoded example of every protocol message into DIR (fuzzing seeds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_proto.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    for (int type = 1; type <= 27; type++) {
        cs_msg_t *msg = cs_msg_new((cs_msg_type_t)type);
        msg->capacity = 2;
        msg->name = strdup("w");
        msg->task_id = 1;
        msg->kind = CS_TASK_BUILD;
        msg->connection = strdup("conn_a");
        msg->plugin = strdup("synthetic");
        msg->config = strdup("{\"tables\":2}");
        msg->error = strdup("boom");
        msg->reason = strdup("bye");
        msg->seq = 3;
        msg->prefix = strdup("conn");
        msg->memory_max_mb = 2048; /* TASK: a plugin instance's settings */
        if (cs_strs_add(&msg->env, "AWS_PROFILE=prod") != 0 ||
            cs_strs_add(&msg->env, "TOKEN=a=b") != 0)
            return 1;
        /* REFRESH_REQ: the connections named; RESULT: a dynamic schema's watch list */
        if (cs_strs_add_max(&msg->names, "conn_a", CS_PROTO_MAX_NAMES) != 0 ||
            cs_strs_add_max(&msg->watch, "/data/conn_a/*.csv", CS_PROTO_MAX_WATCH) != 0)
            return 1;
        if (cs_msg_add_row(msg, "conn_a", CS_STATUS_READY, NULL, 1, true, 2, "synthetic") != 0)
            return 1;
        char *data;
        size_t size;
        if (cs_msg_encode(msg, &data, &size, NULL, 0) == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[1], cs_msg_type_name(msg->type));
            FILE *file = fopen(path, "wb");
            if (!file || fwrite(data, 1, size, file) != size || fclose(file) != 0)
                return 1;
            free(data);
        }
        cs_msg_destroy(&msg);
    }
    return 0;
}
