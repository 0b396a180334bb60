import { dagFromGraph, type DagPayload } from '../../api/dag';
import type { RunDelta, RunGraph } from '../../api/types';
import { ancestorsOf, applyRunDeltas, layoutInputOf, modelFromDag, stateAt } from './graphModel';
import { layoutGraph } from './layout';

/** The dag of types_pipeline.py's shape: a root, steps, a _getitem and a _make_list. */
const DAG: DagPayload = {
  root_id: 'r0',
  change_seq: 41,
  states: ['RESOLVED', 'RAN', 'CREATED'],
  names: ['pipeline', 'make_scalars', '_getitem', '_make_list', 'sum_list'],
  functions: [
    '__main__.pipeline',
    '__main__.make_scalars',
    'sematic.future_operators.getitem._getitem',
    'sematic.function._make_list',
    '__main__.sum_list',
  ],
  runs: {
    id: ['r0', 'r1', 'r2', 'r3', 'r4'],
    parent: [-1, 0, 0, 0, 0],
    name: [0, 1, 2, 3, 4],
    function: [0, 1, 2, 3, 4],
    state: [1, 0, 0, 0, 2],
  },
  edges: [1, 2, 2, 3, 3, 4],
};

function delta(id: string, parent: string | null, state: RunDelta['future_state'], name = 'step', fn = '__main__.step'): RunDelta {
  return {
    id,
    root_id: 'r0',
    parent_id: parent,
    original_run_id: null,
    name,
    function_path: fn,
    future_state: state,
    created_at: '2026-11-23T03:14:05.738200+00:00',
    updated_at: '2026-11-23T03:14:05.738200+00:00',
    started_at: null,
    ended_at: null,
    resolved_at: null,
    failed_at: null,
  };
}

describe('modelFromDag', () => {
  it('reads the columnar payload and marks the helper runs hidden', () => {
    const m = modelFromDag(DAG);
    expect(m.count).toBe(5);
    expect(m.index.get('r3')).toBe(3);
    expect(stateAt(m, 0)).toBe('RAN');
    expect(stateAt(m, 4)).toBe('CREATED');
    expect(Array.from(m.hidden)).toEqual([0, 0, 1, 1, 0]);
    expect(m.names[4]).toBe('sum_list');
    expect(m.changeSeq).toBe(41);
  });

  it('lays out with the helpers bridged', () => {
    const m = modelFromDag(DAG);
    const { input } = layoutInputOf(m, new Set());
    const l = layoutGraph(input);
    expect(Array.from(l.nodes)).toEqual([0, 1, 4]);
    expect(Array.from(l.edges)).toEqual([1, 4]);
  });
});

describe('applyRunDeltas', () => {
  it('changes states in a new model without a new structure', () => {
    const m = modelFromDag(DAG);
    const { model, pending } = applyRunDeltas(m, [delta('r4', 'r0', 'RAN'), delta('r4', 'r0', 'RESOLVED')]);
    expect(pending).toEqual([]);
    expect(stateAt(model, 4)).toBe('RESOLVED');
    expect(stateAt(m, 4)).toBe('CREATED');
    expect(model.structure).toBe(m.structure);
    expect(model.revision).toBe(m.revision + 1);
    expect(layoutInputOf(model, new Set()).key).toBe(layoutInputOf(m, new Set()).key);
  });

  it('returns the same model when nothing changed', () => {
    const m = modelFromDag(DAG);
    expect(applyRunDeltas(m, [delta('r1', 'r0', 'RESOLVED')]).model).toBe(m);
    expect(applyRunDeltas(m, [{ ...delta('x', null, 'RAN'), root_id: 'other' }]).model).toBe(m);
  });

  it('adds new runs, children after their parents even when they come first', () => {
    const m = modelFromDag(DAG);
    const { model, pending } = applyRunDeltas(m, [
      delta('r6', 'r5', 'CREATED', 'inner'),
      delta('r5', 'r0', 'RAN', 'outer'),
      delta('r7', 'r0', 'CREATED', '_make_tuple', 'sematic.function._make_tuple'),
    ]);
    expect(pending).toEqual([]);
    expect(model.count).toBe(8);
    expect(model.index.get('r5')).toBeLessThan(model.index.get('r6')!);
    const i6 = model.index.get('r6')!;
    expect(ancestorsOf(model, i6)).toEqual([model.index.get('r5'), 0]);
    expect(model.hidden[model.index.get('r7')!]).toBe(1);
    expect(model.structure).toBe(m.structure + 1);
    expect(layoutInputOf(model, new Set()).key).not.toBe(layoutInputOf(m, new Set()).key);
  });

  it('keeps a run whose parent is unknown for later', () => {
    const m = modelFromDag(DAG);
    const first = applyRunDeltas(m, [delta('r9', 'r8', 'CREATED')]);
    expect(first.model).toBe(m);
    expect(first.pending.map((d) => d.id)).toEqual(['r9']);
    const second = applyRunDeltas(first.model, [delta('r8', 'r0', 'RAN'), ...first.pending]);
    expect(second.pending).toEqual([]);
    expect(second.model.count).toBe(7);
  });
});

describe('dagFromGraph', () => {
  it('converts Sematic graph JSON, parents first, edges between runs only', () => {
    const run = (id: string, parent: string | null, name: string, state: RunDelta['future_state']): RunGraph['runs'][number] =>
      ({ ...delta(id, parent, state, name, `m.${name}`) }) as unknown as RunGraph['runs'][number];
    const edge = (s: string | null, d: string | null): RunGraph['edges'][number] => ({
      id: `${s}-${d}`,
      source_run_id: s,
      source_name: null,
      destination_run_id: d,
      destination_name: 'x',
      artifact_id: 'a',
      parent_id: null,
      created_at: '',
      updated_at: '',
    });
    const graph: RunGraph = {
      run_id: 'a',
      runs: [run('c', 'b', 'c', 'RAN'), run('a', null, 'root', 'RAN'), run('b', 'a', 'b', 'RESOLVED'), run('d', 'a', 'd', 'CREATED')],
      edges: [edge('b', 'd'), edge(null, 'b'), edge('d', null), edge('b', 'd')],
      artifacts: [],
    };
    const dag = dagFromGraph('a', graph, -1);
    expect(dag.runs.id).toEqual(['a', 'b', 'c', 'd']);
    expect(dag.runs.parent).toEqual([-1, 0, 1, 0]);
    expect(dag.edges).toEqual([1, 3]);
    expect(dag.names[dag.runs.name[2]]).toBe('c');
    expect(dag.states[dag.runs.state[3]]).toBe('CREATED');
  });
});
