/*
 * socketio_proto.c: the Engine.IO v4 polling payload and Socket.IO v5
 * packet formats (socketio.h has them): pure parsing and writing, no
 * sessions, no I/O. Built into the server, its unit test
 * (tests/c/test_server_socketio.c) and the fuzz target (fuzz/fuzz_http.c,
 * mode 3), which checks that what parses stays inside its input.
 *
 * Parsing never trusts a length or a count from the client beyond what
 * the bytes hold: a namespace is copied only up to SM_SIO_NSP_MAX bytes,
 * numbers stop at 2^53 (what a JavaScript client can count to).
 */
#include <string.h>

#include "sematic/json.h"

#include "internal.h"
#include "socketio.h"

#include "util/banned.h"

#define MAX_SAFE_INTEGER ((int64_t)1 << 53)

int sm__eio_next_packet(const char *payload, size_t len, size_t *at, struct sm_eio_packet *out,
                        struct sm_err *err)
{
    if (*at >= len)
        return 0;
    const char *start = payload + *at;
    const char *sep = memchr(start, SM_EIO_SEPARATOR, len - *at);
    size_t n = sep ? (size_t)(sep - start) : len - *at;
    size_t offset = *at;
    *at += n + (sep ? 1 : 0);
    if (sep != NULL && *at == len)
        return sm_errf(err, SM_EINVAL,
                       "bad Engine.IO payload: it ends with a separator (0x1e) at byte %zu; "
                       "packets are joined by 0x1e, with none after the last",
                       offset + n);
    if (n == 0)
        return sm_errf(err, SM_EINVAL,
                       "bad Engine.IO payload: empty packet at byte %zu; each packet starts with "
                       "its type digit",
                       offset);
    if (memchr(start, '\0', n) != NULL)
        return sm_errf(err, SM_EINVAL, "bad Engine.IO payload: NUL byte in the packet at byte %zu",
                       offset);
    memset(out, 0, sizeof(*out));
    if (start[0] == 'b') {
        out->type = SM_EIO_MESSAGE;
        out->is_binary = true;
    } else if (start[0] >= '0' && start[0] <= '6') {
        out->type = start[0] - '0';
    } else {
        return sm_errf(err, SM_EINVAL,
                       "bad Engine.IO payload: unknown packet type '%c' at byte %zu; expected a "
                       "digit from 0 to 6, or 'b' for binary",
                       (start[0] >= 0x20 && start[0] < 0x7f) ? start[0] : '?', offset);
    }
    out->data = start + 1;
    out->len = n - 1;
    return 1;
}

/* Digits at text[*i..len) as a number below 2^53 into *out; false when there are none or too
 * many. */
static bool take_number(const char *text, size_t len, size_t *i, int64_t *out)
{
    size_t start = *i;
    int64_t v = 0;
    while (*i < len && text[*i] >= '0' && text[*i] <= '9') {
        v = v * 10 + (text[*i] - '0');
        if (v >= MAX_SAFE_INTEGER)
            return false;
        (*i)++;
    }
    *out = v;
    return *i > start;
}

int sm__sio_packet_parse(const char *text, size_t len, struct sm_sio_packet *out,
                         struct sm_err *err)
{
    memset(out, 0, sizeof(*out));
    out->nsp[0] = '/';
    out->ack_id = -1;
    out->data = "";
    if (len == 0 || text[0] < '0' || text[0] > '6')
        return sm_errf(err, SM_EINVAL,
                       "bad Socket.IO packet: it must start with its type, a digit from 0 to 6");
    out->type = text[0] - '0';
    size_t i = 1;
    if (out->type == SM_SIO_BINARY_EVENT || out->type == SM_SIO_BINARY_ACK) {
        if (!take_number(text, len, &i, &out->n_attachments) || i >= len || text[i] != '-')
            return sm_errf(err, SM_EINVAL,
                           "bad Socket.IO packet: a binary packet's type must be followed by its "
                           "attachment count and '-' (\"51-\")");
        i++;
    }
    if (i < len && text[i] == '/') {
        size_t start = i;
        while (i < len && text[i] != ',') {
            if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
                return sm_errf(err, SM_EINVAL,
                               "bad Socket.IO packet: control character in its namespace");
            i++;
        }
        size_t n = i - start;
        if (n > SM_SIO_NSP_MAX)
            return sm_errf(err, SM_EINVAL,
                           "bad Socket.IO packet: its namespace is longer than %d bytes",
                           SM_SIO_NSP_MAX);
        memcpy(out->nsp, text + start, n);
        out->nsp[n] = '\0';
        if (!sm__http_is_utf8(out->nsp, n)) /* it may be echoed back, in a connect error */
            return sm_errf(err, SM_EINVAL, "bad Socket.IO packet: its namespace is not UTF-8");
        if (i < len)
            i++; /* the ',' ending the namespace */
    }
    if (i < len && text[i] >= '0' && text[i] <= '9') {
        if (!take_number(text, len, &i, &out->ack_id))
            return sm_errf(err, SM_EINVAL,
                           "bad Socket.IO packet: its ack id is not a number below 2^53");
    }
    out->data = text + i;
    out->len = len - i;
    return 0;
}

static const char *const namespaces[SM_SIO_N_NSP] = {"/", "/pipeline", "/graph", "/job",
                                                     "/metrics"};

int sm__sio_nsp_index(const char *nsp)
{
    for (int i = 0; i < SM_SIO_N_NSP; i++)
        if (strcmp(nsp, namespaces[i]) == 0)
            return i;
    return -1;
}

const char *sm__sio_nsp_name(int index)
{
    return index >= 0 && index < SM_SIO_N_NSP ? namespaces[index] : "/";
}

int sm__eio_payload_add(struct sm_buf *payload, const char *packet, size_t len)
{
    if (payload->len > 0) {
        int rc = sm_buf_addc(payload, SM_EIO_SEPARATOR);
        if (rc != 0)
            return rc;
    }
    return sm_buf_add(payload, packet, len);
}

/* "4<type><nsp>," with the namespace left out for "/". */
static int packet_head(struct sm_buf *out, int sio_type, const char *nsp)
{
    int rc = sm_buf_addf(out, "4%d", sio_type);
    if (rc == 0 && strcmp(nsp, "/") != 0)
        rc = sm_buf_addf(out, "%s,", nsp);
    return rc;
}

int sm__sio_event_packet(struct sm_buf *out, const char *nsp, const char *event, const char *json,
                         size_t json_len)
{
    int rc = packet_head(out, SM_SIO_EVENT, nsp);
    if (rc != 0)
        return rc;
    struct sm_jw w;
    sm_jw_init(&w, out);
    sm_jw_begin_array(&w);
    sm_jw_stringz(&w, event);
    if (json != NULL)
        sm_jw_raw(&w, json, json_len);
    sm_jw_end_array(&w);
    return sm_jw_finish(&w, NULL);
}

int sm__sio_connect_packet(struct sm_buf *out, const char *nsp, const char *sid)
{
    int rc = packet_head(out, SM_SIO_CONNECT, nsp);
    return rc ? rc : sm_buf_addf(out, "{\"sid\":\"%s\"}", sid);
}

int sm__sio_connect_error_packet(struct sm_buf *out, const char *nsp, const char *message)
{
    int rc = packet_head(out, SM_SIO_CONNECT_ERROR, nsp);
    if (rc != 0)
        return rc;
    struct sm_jw w;
    sm_jw_init(&w, out);
    sm_jw_begin_object(&w);
    sm_jw_keyz(&w, "message");
    sm_jw_stringz(&w, message);
    sm_jw_end_object(&w);
    return sm_jw_finish(&w, NULL);
}
