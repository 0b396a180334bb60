/*
 * socketio.h: the subset of Engine.IO v4 and Socket.IO v5 that Sematic's
 * client needs (its LocalRunner connects to namespace /pipeline before it
 * runs and listens there for `cancel`), over HTTP long-polling only.
 *
 * The wire formats, parsed and written by pure functions (socketio_proto.c;
 * unit-tested and fuzzed):
 *
 * - An Engine.IO polling payload is packets joined by the record separator
 *   0x1e. A packet is a type digit and its data: 0 open, 1 close, 2 ping,
 *   3 pong, 4 message, 5 upgrade, 6 noop; "b" and base64 is a binary
 *   message.
 * - A Socket.IO packet is the data of an Engine.IO message: a type digit
 *   (0 connect, 1 disconnect, 2 event, 3 ack, 4 connect error, 5 binary
 *   event, 6 binary ack), for binary types the attachment count and '-',
 *   then "/namespace," unless the namespace is "/", an optional ack id
 *   (digits), and the JSON data: "42/pipeline,["cancel",{...}]".
 *
 * The sessions behind /socket.io/ are in socketio.c.
 */
#ifndef SM_SERVER_SOCKETIO_H
#define SM_SERVER_SOCKETIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sematic/buf.h"
#include "sematic/err.h"

/* Engine.IO packet types. */
enum sm_eio_type {
    SM_EIO_OPEN = 0,
    SM_EIO_CLOSE = 1,
    SM_EIO_PING = 2,
    SM_EIO_PONG = 3,
    SM_EIO_MESSAGE = 4,
    SM_EIO_UPGRADE = 5,
    SM_EIO_NOOP = 6,
};

/* Socket.IO packet types. */
enum sm_sio_type {
    SM_SIO_CONNECT = 0,
    SM_SIO_DISCONNECT = 1,
    SM_SIO_EVENT = 2,
    SM_SIO_ACK = 3,
    SM_SIO_CONNECT_ERROR = 4,
    SM_SIO_BINARY_EVENT = 5,
    SM_SIO_BINARY_ACK = 6,
};

/* The record separator between the packets of a polling payload. */
#define SM_EIO_SEPARATOR '\x1e'
/* At most this many packets in one payload (python-engineio decodes 16). */
#define SM_EIO_MAX_PACKETS 64
/* The longest namespace, "/" included. */
#define SM_SIO_NSP_MAX 64

/* One packet of a payload; data points into the payload. */
struct sm_eio_packet {
    int type;         /* enum sm_eio_type; SM_EIO_MESSAGE for a binary one */
    bool is_binary;   /* "b<base64>": data is the base64 text, not decoded */
    const char *data; /* after the type digit (or the 'b') */
    size_t len;
};

/*
 * The next packet of payload (len bytes) from *at, which it advances past
 * the packet and its separator. Returns 1 with *out filled, 0 at the end,
 * or SM_EINVAL naming what is wrong: an empty packet (an empty payload is
 * none at all, not one empty packet), a type that is not a digit from 0 to
 * 6, a NUL byte.
 */
int sm__eio_next_packet(const char *payload, size_t len, size_t *at, struct sm_eio_packet *out,
                        struct sm_err *err);

/* A parsed Socket.IO packet; data points into the text it came from. */
struct sm_sio_packet {
    int type;                     /* enum sm_sio_type */
    char nsp[SM_SIO_NSP_MAX + 1]; /* "/" when the packet names none */
    int64_t n_attachments;        /* binary types; 0 otherwise */
    int64_t ack_id;               /* -1 when none */
    const char *data;             /* the JSON data ("" when none), not parsed */
    size_t len;
};

/*
 * Parse the text of an Engine.IO message (len bytes) as a Socket.IO packet.
 * Returns 0, or SM_EINVAL naming what is wrong: no or an unknown type, a
 * namespace longer than SM_SIO_NSP_MAX, holding a control character or
 * invalid UTF-8 (a namespace starts with '/' and ends at ','), an attachment
 * count or ack id that is not a number below 2^53, a binary type without
 * its '-'.
 */
int sm__sio_packet_parse(const char *text, size_t len, struct sm_sio_packet *out,
                         struct sm_err *err);

/* Index of a namespace this server accepts ("/", "/pipeline", "/graph", "/job",
 * "/metrics"), or -1. */
int sm__sio_nsp_index(const char *nsp);
/* The namespace of an index of sm__sio_nsp_index(). */
const char *sm__sio_nsp_name(int index);
#define SM_SIO_N_NSP 5

/* Append one packet to a payload being built (the separator first unless it is empty). */
int sm__eio_payload_add(struct sm_buf *payload, const char *packet, size_t len);

/*
 * An Engine.IO message carrying a Socket.IO event into out (appended):
 * "42<nsp>,[\"<event>\",<json>]", the namespace left out when it is "/",
 * the data left out when json is NULL. json must be valid JSON text (it
 * is copied as is); event is escaped. Returns 0, SM_EINVAL (event not
 * valid UTF-8) or SM_ETOOBIG (out's cap).
 */
int sm__sio_event_packet(struct sm_buf *out, const char *nsp, const char *event, const char *json,
                         size_t json_len);

/* "40<nsp>,{\"sid\":\"<sid>\"}" (connected) into out. */
int sm__sio_connect_packet(struct sm_buf *out, const char *nsp, const char *sid);

/* "44<nsp>,{\"message\":\"<message>\"}" (connection refused) into out. */
int sm__sio_connect_error_packet(struct sm_buf *out, const char *nsp, const char *message);

/* ---------------------------------------------------------- socketio.c */

/*
 * Queue Socket.IO event `event` with JSON data (json, len: valid JSON text,
 * or NULL for none) to every session connected to namespace nsp, and wake
 * their waiting polls. Returns how many sessions it was queued for.
 * Any thread.
 */
size_t sm__sio_broadcast(const char *nsp, const char *event, const char *json, size_t len);

#endif
