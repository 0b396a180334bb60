/*
 * record.h: the LocalRunner's persistence. A recorder watches the engine's
 * transitions on one graph and writes runs, artifacts, edges, the pipeline
 * run and captured logs to the store, with Sematic's LocalRunner semantics
 * (API.md 2.4, 4.1, section 9 items 34-42).
 *
 * Writes are queued as C records and committed by a flusher thread in
 * batches (at most one batch every interval_ms, DESIGN principle 3), so the
 * thread that runs user code never waits on the disk. The queue is FIFO and a
 * batch is one transaction, so an artifact is never committed after the run
 * it resolved.
 *
 * Threads: every function here needs the GIL, except inside the flusher.
 */
#ifndef SM_PY_RECORD_H
#define SM_PY_RECORD_H

#include "engine.h"
#include "sematic/store.h"

/* Called by engine.c. All return 0, or -1 with a Python exception set. */

/* _core.run() starts: record the pipeline run (SCHEDULED, RUNNING) and the root. */
int sm__recorder_begin(PyObject *recorder, struct graph_obj *go, int32_t root);

/* After the engine applied a transition of `run`. */
int sm__recorder_transition(struct sm_recorder *rec, struct graph_obj *go, int32_t run,
                            enum sm_state from, enum sm_state to);

/*
 * Before executing `run` (now SCHEDULED): when an earlier run with the same
 * function, source and inputs can stand in for it (a cache hit, or a run the
 * pipeline being resumed had resolved), set its value, report it and return
 * 1; return 0 to execute it.
 */
int sm__recorder_try_reuse(struct sm_recorder *rec, struct graph_obj *go, int32_t run);

/* Before a user body runs: write the journal of what resolved since the last body. */
int sm__recorder_before_body(struct sm_recorder *rec);

/* _core.run() ends: the pipeline run's final status (enum sm_pipeline_status). Never raises
 * over an exception already set: it keeps the first. */
int sm__recorder_end(struct sm_recorder *rec, struct graph_obj *go, int status);

/* Module setup: adds _core.Recorder, _core.Store and their functions. */
int sm_record_exec(PyObject *module, struct sm_py_state *st);

/* The recorder of a _core.Recorder object. */
struct sm_recorder *sm__recorder_of(PyObject *obj);
int sm__is_recorder(struct sm_py_state *st, PyObject *obj);

#endif
