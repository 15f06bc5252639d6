/* Unit tests of cs_wire: protocol messages over real ZeroMQ sockets (inproc). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cs_wire.h"

static void test_dealer_router(void **state)
{
    (void)state;
    zsock_t *router = zsock_new_router("inproc://wire-dr");
    zsock_t *dealer = zsock_new_dealer(">inproc://wire-dr");
    assert_non_null(router);
    assert_non_null(dealer);
    zsock_set_rcvtimeo(router, 5000);
    zsock_set_rcvtimeo(dealer, 5000);

    cs_msg_t *ready = cs_msg_new(CS_MSG_READY);
    ready->capacity = 4;
    ready->name = strdup("w1");
    assert_int_equal(cs_wire_send(dealer, NULL, NULL, ready), 0);
    cs_msg_destroy(&ready);

    zframe_t *peer = NULL;
    cs_msg_t *got = NULL;
    char why[256] = "";
    assert_int_equal(cs_wire_recv(router, CS_WIRE_ROUTED, &peer, &got, why, sizeof why), 0);
    assert_non_null(got);
    assert_non_null(peer);
    assert_int_equal(got->type, CS_MSG_READY);
    assert_int_equal(got->capacity, 4);
    assert_string_equal(got->name, "w1");
    cs_msg_destroy(&got);

    /* the reply is routed back to that peer */
    cs_msg_t *task = cs_msg_new(CS_MSG_TASK);
    task->task_id = 9;
    task->kind = CS_TASK_BUILD;
    task->connection = strdup("c1");
    assert_int_equal(cs_wire_send(router, peer, NULL, task), 0);
    cs_msg_destroy(&task);
    zframe_destroy(&peer);
    assert_int_equal(cs_wire_recv(dealer, 0, NULL, &got, why, sizeof why), 0);
    assert_non_null(got);
    assert_int_equal(got->task_id, 9);
    cs_msg_destroy(&got);

    zsock_destroy(&dealer);
    zsock_destroy(&router);
}

static void test_pub_sub_topic(void **state)
{
    (void)state;
    zsock_t *pub = zsock_new_pub("inproc://wire-ps");
    zsock_t *sub = zsock_new_sub(">inproc://wire-ps", "aws");
    assert_non_null(pub);
    assert_non_null(sub);
    zsock_set_rcvtimeo(sub, 5000);

    cs_msg_t *msg = cs_msg_new(CS_MSG_STATE);
    msg->seq = 1;
    msg->status = CS_STATUS_READY;
    /* inproc connects synchronously, but the subscription travels to the publisher
     * asynchronously: publish until the subscriber sees one (bounded). */
    msg->connection = strdup("gcp_x");
    cs_msg_t *got = NULL;
    char why[256];
    zpoller_t *poller = zpoller_new(sub, NULL);
    for (int i = 0; i < 200 && !got; i++) {
        assert_int_equal(cs_wire_send(pub, NULL, "gcp_x", msg), 0); /* filtered out */
        free(msg->connection);
        msg->connection = strdup("aws_a");
        assert_int_equal(cs_wire_send(pub, NULL, "aws_a", msg), 0);
        free(msg->connection);
        msg->connection = strdup("gcp_x");
        if (zpoller_wait(poller, 10) == sub)
            assert_int_equal(cs_wire_recv(sub, CS_WIRE_TOPIC, NULL, &got, why, sizeof why), 0);
    }
    assert_non_null(got);
    assert_string_equal(got->connection, "aws_a");
    cs_msg_destroy(&got);
    cs_msg_destroy(&msg);
    zpoller_destroy(&poller);
    zsock_destroy(&sub);
    zsock_destroy(&pub);
}

static void test_malformed_frames(void **state)
{
    (void)state;
    zsock_t *router = zsock_new_router("inproc://wire-bad");
    zsock_t *dealer = zsock_new_dealer(">inproc://wire-bad");
    zsock_set_rcvtimeo(router, 5000);
    zframe_t *peer = NULL;
    cs_msg_t *got = NULL;
    char why[256];

    /* wrong frame count */
    zstr_send(dealer, "hello");
    assert_int_equal(cs_wire_recv(router, CS_WIRE_ROUTED, &peer, &got, why, sizeof why), 0);
    assert_null(got);
    assert_non_null(peer); /* so that the peer can be told why */
    assert_non_null(strstr(why, "expected 2 frames, got 1"));
    zframe_destroy(&peer);

    /* a peer speaking another version */
    zstr_sendx(dealer, "connstate/7", "x", NULL);
    assert_int_equal(cs_wire_recv(router, CS_WIRE_ROUTED, &peer, &got, why, sizeof why), 0);
    assert_null(got);
    assert_non_null(strstr(why, "version 7"));
    zframe_destroy(&peer);

    /* the right header and a garbage body */
    zstr_sendx(dealer, CS_PROTO_HEADER, "\xc1", NULL);
    assert_int_equal(cs_wire_recv(router, CS_WIRE_ROUTED, &peer, &got, why, sizeof why), 0);
    assert_null(got);
    assert_non_null(strstr(why, "0xc1"));
    zframe_destroy(&peer);

    /* nothing to receive: -1 after the timeout */
    zsock_set_rcvtimeo(router, 10);
    assert_int_equal(cs_wire_recv(router, CS_WIRE_ROUTED, &peer, &got, why, sizeof why), -1);

    zsock_destroy(&dealer);
    zsock_destroy(&router);
}

/* A request the codec rejects still gives its request_id, when it has a readable one and came
 * with the right header and frames; one that decodes gives 0 (its own request_id is in it). */
static void test_request_id_of_malformed(void **state)
{
    (void)state;
    zsock_t *router = zsock_new_router("inproc://wire-rid");
    zsock_t *dealer = zsock_new_dealer(">inproc://wire-rid");
    zsock_set_rcvtimeo(router, 5000);
    zframe_t *peer = NULL;
    cs_msg_t *got = NULL;
    uint64_t id = 1;
    char why[256];
    /* SNAPSHOT_REQ 4243 whose prefix is an integer */
    static const char body[] = "\x83\x00\x14\x01\xcd\x10\x93\x02\x07";
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, CS_PROTO_HEADER);
    zmsg_addmem(msg, body, sizeof body - 1);
    assert_int_equal(zmsg_send(&msg, dealer), 0);
    assert_int_equal(
        cs_wire_recv_request(router, CS_WIRE_ROUTED, &peer, &got, &id, why, sizeof why), 0);
    assert_null(got);
    assert_non_null(peer);
    assert_int_equal(id, 4243);
    assert_non_null(strstr(why, "key 2 (prefix)"));
    zframe_destroy(&peer);

    /* the same body after another version's header: not read */
    msg = zmsg_new();
    zmsg_addstr(msg, "connstate/2");
    zmsg_addmem(msg, body, sizeof body - 1);
    assert_int_equal(zmsg_send(&msg, dealer), 0);
    assert_int_equal(
        cs_wire_recv_request(router, CS_WIRE_ROUTED, &peer, &got, &id, why, sizeof why), 0);
    assert_null(got);
    assert_int_equal(id, 0);
    zframe_destroy(&peer);

    /* a request that decodes */
    cs_msg_t *status = cs_msg_new(CS_MSG_STATUS_REQ);
    status->request_id = 9;
    assert_int_equal(cs_wire_send(dealer, NULL, NULL, status), 0);
    cs_msg_destroy(&status);
    id = 1;
    assert_int_equal(
        cs_wire_recv_request(router, CS_WIRE_ROUTED, &peer, &got, &id, why, sizeof why), 0);
    assert_non_null(got);
    assert_int_equal(got->request_id, 9);
    assert_int_equal(id, 0);
    cs_msg_destroy(&got);
    zframe_destroy(&peer);

    zsock_destroy(&dealer);
    zsock_destroy(&router);
}

static void test_send_unencodable(void **state)
{
    (void)state;
    zsock_t *pub = zsock_new_pub("inproc://wire-enc");
    cs_msg_t *msg = cs_msg_new(CS_MSG_STATE); /* no connection: cannot be encoded */
    msg->seq = 1;
    assert_int_equal(cs_wire_send(pub, NULL, "", msg), -1);
    cs_msg_destroy(&msg);
    zsock_destroy(&pub);
}

int main(void)
{
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dealer_router),    cmocka_unit_test(test_pub_sub_topic),
        cmocka_unit_test(test_malformed_frames), cmocka_unit_test(test_request_id_of_malformed),
        cmocka_unit_test(test_send_unencodable),
    };
    int rc = cmocka_run_group_tests_name("wire", tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
