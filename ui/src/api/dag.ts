/**
 * A pipeline's structure in the compact form of `GET /api/v1/runs/:id/dag`
 * (ui/README.md "The graph payload"): columnar runs, parents before their
 * children, indexes into string tables, edges as flat index pairs.
 *
 * Until every server has `/dag`, a 404 falls back to Sematic's
 * `GET /api/v1/runs/:id/graph?root=1` converted by `dagFromGraph` (fine for
 * small pipelines; it is ~1.9 KB of JSON per run).
 */
import { ApiError, apiGet } from './http';
import type { FutureState, RunGraph } from './types';

export interface DagPayload {
  root_id: string;
  /** The store's change sequence the payload was read at: follow the events after it (-1: from now). */
  change_seq: number;
  states: FutureState[];
  names: string[];
  functions: string[];
  runs: {
    id: string[];
    parent: number[];
    name: number[];
    function: number[];
    state: number[];
  };
  /** (source run index, destination run index) pairs, flattened. */
  edges: number[];
}

/** The dag payload of the pipeline run `rootId`. */
export async function fetchDag(rootId: string, signal?: AbortSignal): Promise<DagPayload> {
  try {
    return await apiGet<DagPayload>(`/api/v1/runs/${encodeURIComponent(rootId)}/dag`, signal);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404 || !/no endpoint/i.test(e.message)) throw e;
  }
  const graph = await apiGet<RunGraph>(`/api/v1/runs/${encodeURIComponent(rootId)}/graph?root=1`, signal);
  // No change sequence comes with it: -1 follows the events from now.
  return dagFromGraph(rootId, graph, -1);
}

/** The compact payload of Sematic's run graph (the fallback while `/dag` is missing). */
export function dagFromGraph(rootId: string, graph: RunGraph, changeSeq: number): DagPayload {
  const byId = new Map(graph.runs.map((r) => [r.id, r]));
  // Parents before children: depth-first from the runs whose parent is absent.
  const children = new Map<string | null, string[]>();
  for (const r of graph.runs) {
    const p = r.parent_id !== null && byId.has(r.parent_id) ? r.parent_id : null;
    const list = children.get(p);
    if (list === undefined) children.set(p, [r.id]);
    else list.push(r.id);
  }
  const order: string[] = [];
  const stack = [...(children.get(null) ?? [])].reverse();
  while (stack.length > 0) {
    const id = stack.pop() as string;
    order.push(id);
    const kids = children.get(id);
    if (kids !== undefined) for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]);
  }
  const states: FutureState[] = [];
  const names: string[] = [];
  const functions: string[] = [];
  const intern = <T extends string>(table: T[], index: Map<T, number>, v: T): number => {
    let i = index.get(v);
    if (i === undefined) {
      i = table.length;
      table.push(v);
      index.set(v, i);
    }
    return i;
  };
  const si = new Map<FutureState, number>();
  const ni = new Map<string, number>();
  const fi = new Map<string, number>();
  const index = new Map<string, number>();
  order.forEach((id, i) => index.set(id, i));
  const runs: DagPayload['runs'] = { id: order, parent: [], name: [], function: [], state: [] };
  for (const id of order) {
    const r = byId.get(id)!;
    runs.parent.push(r.parent_id === null ? -1 : (index.get(r.parent_id) ?? -1));
    runs.name.push(intern(names, ni, r.name));
    runs.function.push(intern(functions, fi, r.function_path));
    runs.state.push(intern(states, si, r.future_state));
  }
  const edges: number[] = [];
  const seen = new Set<string>();
  for (const e of graph.edges) {
    if (e.source_run_id === null || e.destination_run_id === null) continue;
    const s = index.get(e.source_run_id);
    const d = index.get(e.destination_run_id);
    if (s === undefined || d === undefined) continue;
    const key = `${s},${d}`;
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push(s, d);
  }
  return { root_id: rootId, change_seq: changeSeq, states, names, functions, runs, edges };
}
