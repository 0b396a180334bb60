/**
 * The run page's normalised graph: runs by index (and index by run id),
 * built from the dag payload and kept current by the `runs` events. A model
 * is never changed in place: applying deltas gives a new one, sharing what
 * did not change, with `structure` bumped when runs were added (a new
 * layout) and `revision` bumped on any change (a redraw).
 */
import type { DagPayload } from '../../api/dag';
import type { FutureState, RunDelta } from '../../api/types';
import { FUTURE_STATES } from '../../components/states';
import { isHelperFunction, type LayoutInput } from './layout';

export interface GraphModel {
  rootId: string;
  /** The change sequence of the payload the model started from. */
  changeSeq: number;
  count: number;
  ids: string[];
  index: ReadonlyMap<string, number>;
  parent: Int32Array;
  /** Index into FUTURE_STATES. */
  state: Uint8Array;
  names: string[];
  functions: string[];
  hidden: Uint8Array;
  edges: Int32Array;
  /** Bumped when runs or edges were added: the layout changes. */
  structure: number;
  /** Bumped on every change. */
  revision: number;
}

const STATE_INDEX = new Map<FutureState, number>(FUTURE_STATES.map((s, i) => [s, i]));

export function stateIndex(s: FutureState): number {
  return STATE_INDEX.get(s) ?? 0;
}

export function stateAt(model: GraphModel, i: number): FutureState {
  return FUTURE_STATES[model.state[i]] ?? 'CREATED';
}

/** The model of a dag payload. */
export function modelFromDag(dag: DagPayload, structure = 1): GraphModel {
  const n = dag.runs.id.length;
  const index = new Map<string, number>();
  const parent = new Int32Array(n);
  const state = new Uint8Array(n);
  const hidden = new Uint8Array(n);
  const names: string[] = new Array<string>(n);
  const functions: string[] = new Array<string>(n);
  const helperFn = dag.functions.map(isHelperFunction);
  const stateMap = dag.states.map(stateIndex);
  for (let i = 0; i < n; i++) {
    index.set(dag.runs.id[i], i);
    parent[i] = dag.runs.parent[i];
    state[i] = stateMap[dag.runs.state[i]] ?? 0;
    names[i] = dag.names[dag.runs.name[i]] ?? '';
    const f = dag.runs.function[i];
    functions[i] = dag.functions[f] ?? '';
    hidden[i] = helperFn[f] === true && parent[i] >= 0 ? 1 : 0;
  }
  return {
    rootId: dag.root_id,
    changeSeq: dag.change_seq,
    count: n,
    ids: dag.runs.id.slice(),
    index,
    parent,
    state,
    names,
    functions,
    hidden,
    edges: Int32Array.from(dag.edges),
    structure,
    revision: structure,
  };
}

/**
 * The model after the `runs` deltas (in order; a run's latest wins). A new
 * run whose parent is unknown yet waits in `pending` for a later call; runs
 * of other pipelines are ignored.
 */
export function applyRunDeltas(model: GraphModel, deltas: readonly RunDelta[]): { model: GraphModel; pending: RunDelta[] } {
  let state = model.state;
  let changedState = false;
  const added: RunDelta[] = [];
  const pending: RunDelta[] = [];
  const addedIndex = new Map<string, number>();
  const latest = new Map<string, RunDelta>();
  for (const d of deltas) if (d.root_id === model.rootId) latest.set(d.id, d);
  for (const d of latest.values()) {
    const i = model.index.get(d.id);
    if (i !== undefined) {
      const s = stateIndex(d.future_state);
      if (state[i] !== s) {
        if (!changedState) {
          state = state.slice();
          changedState = true;
        }
        state[i] = s;
      }
    } else added.push(d);
  }
  if (added.length === 0) {
    if (!changedState) return { model, pending };
    return { model: { ...model, state, revision: model.revision + 1 }, pending };
  }
  // Parents before children: keep adding what has a known parent until nothing moves.
  const order: RunDelta[] = [];
  let rest = added;
  for (;;) {
    const next: RunDelta[] = [];
    for (const d of rest) {
      const known =
        d.parent_id === null || model.index.has(d.parent_id) || addedIndex.has(d.parent_id);
      if (known) {
        addedIndex.set(d.id, model.count + order.length);
        order.push(d);
      } else next.push(d);
    }
    if (next.length === rest.length) {
      pending.push(...next);
      break;
    }
    rest = next;
    if (rest.length === 0) break;
  }
  if (order.length === 0) {
    if (!changedState) return { model, pending };
    return { model: { ...model, state, revision: model.revision + 1 }, pending };
  }
  const n = model.count + order.length;
  const parent = new Int32Array(n);
  parent.set(model.parent);
  const st = new Uint8Array(n);
  st.set(state);
  const hidden = new Uint8Array(n);
  hidden.set(model.hidden);
  const ids = model.ids.slice();
  const names = model.names.slice();
  const functions = model.functions.slice();
  const index = new Map(model.index);
  order.forEach((d, k) => {
    const i = model.count + k;
    index.set(d.id, i);
    ids.push(d.id);
    names.push(d.name);
    functions.push(d.function_path);
    const p = d.parent_id === null ? -1 : (index.get(d.parent_id) ?? -1);
    parent[i] = p;
    st[i] = stateIndex(d.future_state);
    hidden[i] = p >= 0 && isHelperFunction(d.function_path) ? 1 : 0;
  });
  return {
    model: {
      ...model,
      count: n,
      ids,
      index,
      parent,
      state: st,
      names,
      functions,
      hidden,
      structure: model.structure + 1,
      revision: model.revision + 1,
    },
    pending,
  };
}

/** The ancestors of run `i`, nearest first. */
export function ancestorsOf(model: GraphModel, i: number): number[] {
  const out: number[] = [];
  for (let p = model.parent[i]; p >= 0; p = model.parent[p]) out.push(p);
  return out;
}

/** The layout input of the model with `expanded` open, and its cache key. */
export function layoutInputOf(model: GraphModel, expanded: ReadonlySet<number>): { key: string; input: LayoutInput } {
  const ex = Int32Array.from([...expanded].filter((i) => i < model.count).sort((a, b) => a - b));
  return {
    key: `${model.rootId}:${model.structure}:${model.count}:${ex.join(',')}`,
    input: { count: model.count, parent: model.parent, hidden: model.hidden, edges: model.edges, expanded: ex },
  };
}
