/*
 * test_server_socketio.c: the Engine.IO v4 polling payload and Socket.IO
 * v5 packet formats of src/server/socketio_proto.c: what the real
 * python-socketio client sends (captured from Sematic's LocalRunner), what
 * we send it, and the malformed inputs a client could send instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "socketio.h"

#include "util/banned.h"

/* All packets of payload into out (at most n); returns how many, or the error code. */
static int split(const char *payload, struct sm_eio_packet *out, size_t n, struct sm_err *err)
{
    size_t at = 0, count = 0;
    for (;;) {
        struct sm_eio_packet p;
        int rc = sm__eio_next_packet(payload, strlen(payload), &at, &p, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return (int)count;
        assert_true(count < n);
        out[count++] = p;
    }
}

static void assert_data(const struct sm_eio_packet *p, const char *want)
{
    assert_int_equal(p->len, strlen(want));
    assert_memory_equal(p->data, want, p->len);
}

static void test_server_socketio__a_payload_splits_at_record_separators(void **state)
{
    (void)state;
    struct sm_eio_packet p[4];
    struct sm_err err = SM_ERR_INIT;
    /* What python-socketio's client posts to close: its namespace's disconnect, then close. */
    assert_int_equal(split("41/pipeline,\x1e"
                           "1",
                           p, 4, &err),
                     2);
    assert_int_equal(p[0].type, SM_EIO_MESSAGE);
    assert_data(&p[0], "1/pipeline,");
    assert_int_equal(p[1].type, SM_EIO_CLOSE);
    assert_data(&p[1], "");
    assert_int_equal(split("3", p, 4, &err), 1);
    assert_int_equal(p[0].type, SM_EIO_PONG);
    assert_int_equal(split("", p, 4, &err), 0); /* an empty payload holds no packet */
    assert_int_equal(split("bAQID", p, 4, &err), 1);
    assert_true(p[0].is_binary);
    assert_int_equal(p[0].type, SM_EIO_MESSAGE);
    assert_data(&p[0], "AQID");
}

static void expect_payload_error(const char *payload, size_t len, const char *want)
{
    struct sm_err err = SM_ERR_INIT;
    size_t at = 0;
    struct sm_eio_packet p;
    int rc;
    while ((rc = sm__eio_next_packet(payload, len, &at, &p, &err)) > 0)
        ;
    assert_int_equal(rc, SM_EINVAL);
    if (strstr(err.msg, want) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", payload, err.msg, want);
}

static void test_server_socketio__bad_payloads_are_refused_naming_the_problem(void **state)
{
    (void)state;
    expect_payload_error("\x1e", 1, "ends with a separator");
    expect_payload_error("2\x1e\x1e"
                         "3",
                         4, "empty packet at byte 2");
    expect_payload_error("9", 1, "unknown packet type '9'");
    expect_payload_error("x1", 2, "unknown packet type 'x'");
    expect_payload_error("4a\0b", 4, "NUL byte");
}

static void test_server_socketio__socketio_packets_parse_type_namespace_ack_and_data(void **state)
{
    (void)state;
    struct sm_sio_packet p;
    struct sm_err err = SM_ERR_INIT;
    const char *connect = "0/pipeline,{}";
    assert_int_equal(sm__sio_packet_parse(connect, strlen(connect), &p, &err), 0);
    assert_int_equal(p.type, SM_SIO_CONNECT);
    assert_string_equal(p.nsp, "/pipeline");
    assert_int_equal(p.ack_id, -1);
    assert_int_equal(p.len, 2);
    assert_memory_equal(p.data, "{}", 2);

    const char *bare = "0";
    assert_int_equal(sm__sio_packet_parse(bare, 1, &p, &err), 0);
    assert_string_equal(p.nsp, "/");
    assert_int_equal(p.len, 0);

    const char *disconnect = "1/pipeline,";
    assert_int_equal(sm__sio_packet_parse(disconnect, strlen(disconnect), &p, &err), 0);
    assert_int_equal(p.type, SM_SIO_DISCONNECT);
    assert_string_equal(p.nsp, "/pipeline");

    const char *event = "2/graph,12[\"update\",{\"run_id\":\"x\"}]";
    assert_int_equal(sm__sio_packet_parse(event, strlen(event), &p, &err), 0);
    assert_int_equal(p.type, SM_SIO_EVENT);
    assert_string_equal(p.nsp, "/graph");
    assert_int_equal(p.ack_id, 12);
    assert_memory_equal(p.data, "[\"update\"", 9);

    const char *binary = "51-/job,[\"x\",{\"_placeholder\":true,\"num\":0}]";
    assert_int_equal(sm__sio_packet_parse(binary, strlen(binary), &p, &err), 0);
    assert_int_equal(p.type, SM_SIO_BINARY_EVENT);
    assert_int_equal(p.n_attachments, 1);
    assert_string_equal(p.nsp, "/job");

    const char *no_comma = "0/pipeline"; /* the namespace alone, as the end of the text */
    assert_int_equal(sm__sio_packet_parse(no_comma, strlen(no_comma), &p, &err), 0);
    assert_string_equal(p.nsp, "/pipeline");
}

static void expect_packet_error(const char *text, const char *want)
{
    struct sm_sio_packet p;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm__sio_packet_parse(text, strlen(text), &p, &err), SM_EINVAL);
    if (strstr(err.msg, want) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", text, err.msg, want);
}

static void test_server_socketio__bad_socketio_packets_are_refused(void **state)
{
    (void)state;
    expect_packet_error("", "must start with its type");
    expect_packet_error("7", "must start with its type");
    expect_packet_error("5/x,[]", "attachment count and '-'");
    expect_packet_error("51/x,[]", "attachment count and '-'");
    expect_packet_error("5999999999999999999-[]", "attachment count and '-'");
    expect_packet_error("2/a\tb,[]", "control character");
    expect_packet_error("0/\xff\xfe,{}", "its namespace is not UTF-8");
    expect_packet_error("29999999999999999[]", "ack id");
    char long_nsp[200] = "0/";
    memset(long_nsp + 2, 'n', 100);
    long_nsp[102] = ',';
    long_nsp[103] = '\0';
    expect_packet_error(long_nsp, "longer than 64 bytes");
}

static void test_server_socketio__namespaces_are_a_fixed_set(void **state)
{
    (void)state;
    assert_int_equal(sm__sio_nsp_index("/"), 0);
    assert_int_equal(sm__sio_nsp_index("/pipeline"), 1);
    assert_int_equal(sm__sio_nsp_index("/metrics"), 4);
    assert_int_equal(sm__sio_nsp_index("/nope"), -1);
    assert_int_equal(sm__sio_nsp_index("pipeline"), -1);
    assert_string_equal(sm__sio_nsp_name(2), "/graph");
}

static void test_server_socketio__packets_we_send_are_what_python_socketio_reads(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(1 << 16);
    const char *data = "{\"resolution_id\":\"abc\",\"function_path\":\"m.f\"}";
    assert_int_equal(sm__sio_event_packet(&b, "/pipeline", "cancel", data, strlen(data)), 0);
    assert_string_equal(b.data,
                        "42/pipeline,[\"cancel\",{\"resolution_id\":\"abc\",\"function_path\":"
                        "\"m.f\"}]");
    sm_buf_reset(&b);
    assert_int_equal(sm__sio_event_packet(&b, "/", "ping\"me", NULL, 0), 0);
    assert_string_equal(b.data, "42[\"ping\\\"me\"]");
    sm_buf_reset(&b);
    assert_int_equal(sm__sio_connect_packet(&b, "/pipeline", "s1"), 0);
    assert_string_equal(b.data, "40/pipeline,{\"sid\":\"s1\"}");
    sm_buf_reset(&b);
    assert_int_equal(sm__sio_connect_error_packet(&b, "/x", "Invalid namespace"), 0);
    assert_string_equal(b.data, "44/x,{\"message\":\"Invalid namespace\"}");
    sm_buf_reset(&b);
    assert_int_equal(sm__sio_event_packet(&b, "/", "bad\xff", NULL, 0), SM_EINVAL);

    struct sm_buf payload = SM_BUF_INIT(1 << 16);
    assert_int_equal(sm__eio_payload_add(&payload, "2", 1), 0);
    assert_int_equal(sm__eio_payload_add(&payload, "42[\"a\"]", 7), 0);
    assert_string_equal(payload.data, "2\x1e"
                                      "42[\"a\"]");
    /* and it splits back into what went in */
    struct sm_eio_packet p[2];
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(split(payload.data, p, 2, &err), 2);
    assert_int_equal(p[0].type, SM_EIO_PING);
    assert_data(&p[1], "2[\"a\"]");
    sm_buf_release(&payload);
    sm_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_socketio__a_payload_splits_at_record_separators),
        cmocka_unit_test(test_server_socketio__bad_payloads_are_refused_naming_the_problem),
        cmocka_unit_test(test_server_socketio__socketio_packets_parse_type_namespace_ack_and_data),
        cmocka_unit_test(test_server_socketio__bad_socketio_packets_are_refused),
        cmocka_unit_test(test_server_socketio__namespaces_are_a_fixed_set),
        cmocka_unit_test(test_server_socketio__packets_we_send_are_what_python_socketio_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
