/*
 * state.c: run states (API.md 2.4): names, terminal predicates and the one
 * transition table. graph.c asks sm_state_check_transition() before every
 * state write; nothing else in libsematic decides whether a run may move.
 */
#include <stdint.h>

#include "sematic/graph.h"

#include "util/banned.h"

static const char *const names[SM_STATE_COUNT] = {
    [SM_STATE_CREATED] = "CREATED",   [SM_STATE_SCHEDULED] = "SCHEDULED",
    [SM_STATE_RAN] = "RAN",           [SM_STATE_RESOLVED] = "RESOLVED",
    [SM_STATE_FAILED] = "FAILED",     [SM_STATE_NESTED_FAILED] = "NESTED_FAILED",
    [SM_STATE_RETRYING] = "RETRYING", [SM_STATE_CANCELED] = "CANCELED",
};

#define TO(s) (1u << (s))

/* allowed[from] has bit `to` set when from -> to is legal (API.md 2.4). */
static const uint8_t allowed[SM_STATE_COUNT] = {
    [SM_STATE_CREATED] = TO(SM_STATE_SCHEDULED) | TO(SM_STATE_CANCELED) | TO(SM_STATE_FAILED),
    [SM_STATE_SCHEDULED] = TO(SM_STATE_RAN) | TO(SM_STATE_RETRYING) | TO(SM_STATE_CANCELED) |
                           TO(SM_STATE_RESOLVED) | TO(SM_STATE_FAILED),
    [SM_STATE_RAN] = TO(SM_STATE_NESTED_FAILED) | TO(SM_STATE_RESOLVED) | TO(SM_STATE_CANCELED),
    [SM_STATE_RESOLVED] = 0,
    /* Legacy: Sematic allows it; this engine never takes it (it retries from SCHEDULED). */
    [SM_STATE_FAILED] = TO(SM_STATE_RETRYING),
    [SM_STATE_NESTED_FAILED] = 0,
    [SM_STATE_RETRYING] = TO(SM_STATE_FAILED) | TO(SM_STATE_SCHEDULED) | TO(SM_STATE_CANCELED),
    [SM_STATE_CANCELED] = 0,
};

_Static_assert(SM_STATE_COUNT <= 8, "the transition table holds one byte per state");

static bool in_range(enum sm_state s)
{
    return (unsigned)s < SM_STATE_COUNT;
}

const char *sm_state_name(enum sm_state s)
{
    return in_range(s) ? names[s] : "UNKNOWN";
}

bool sm_state_is_terminal(enum sm_state s)
{
    return s == SM_STATE_RESOLVED || s == SM_STATE_FAILED || s == SM_STATE_NESTED_FAILED ||
           s == SM_STATE_CANCELED;
}

bool sm_state_is_failed(enum sm_state s)
{
    return s == SM_STATE_FAILED || s == SM_STATE_NESTED_FAILED;
}

int sm_state_check_transition(enum sm_state from, enum sm_state to, struct sm_err *err)
{
    if (in_range(from) && in_range(to) && (allowed[from] & TO(to)))
        return 0;
    return sm_errf(err, SM_EINVALID_TRANSITION,
                   "invalid run state transition: '%s' -> '%s'; a run's state only moves forward "
                   "(see API.md 2.4)",
                   sm_state_name(from), sm_state_name(to));
}
