import { cachedLayout, isHelperFunction, layoutGraph, NODE_H, NODE_W, type Layout, type LayoutInput } from './layout';

/** A layout input from (parent, hidden) per run and edge pairs. */
function input(parents: number[], edges: number[], expanded: number[] = [], hidden: number[] = []): LayoutInput {
  const h = new Uint8Array(parents.length);
  for (const i of hidden) h[i] = 1;
  return {
    count: parents.length,
    parent: Int32Array.from(parents),
    hidden: h,
    edges: Int32Array.from(edges),
    expanded: Int32Array.from(expanded),
  };
}

function edgePairs(l: Layout): string[] {
  const out: string[] = [];
  for (let k = 0; k < l.edges.length; k += 2) out.push(`${l.edges[k]}->${l.edges[k + 1]}`);
  return out.sort();
}

function rowOf(l: Layout, i: number): number {
  return l.y[i];
}

describe('layoutGraph', () => {
  it('puts each run one layer below its furthest predecessor', () => {
    // root 0; 1 -> 2 -> 3, and 1 -> 3 directly: 3 goes below 2, not beside it.
    const l = layoutGraph(input([-1, 0, 0, 0], [1, 2, 2, 3, 1, 3]));
    expect(rowOf(l, 1)).toBeLessThan(rowOf(l, 2));
    expect(rowOf(l, 2)).toBeLessThan(rowOf(l, 3));
    expect(l.kind[0]).toBe(2);
    expect(l.kind[1]).toBe(0);
    // The root's box holds its children.
    for (const i of [1, 2, 3]) {
      expect(l.x[i]).toBeGreaterThanOrEqual(l.x[0]);
      expect(l.y[i] + l.h[i]).toBeLessThanOrEqual(l.y[0] + l.h[0]);
    }
    expect(l.w[1]).toBe(NODE_W);
    expect(l.h[1]).toBe(NODE_H);
  });

  it('places runs of one layer side by side without overlap', () => {
    const l = layoutGraph(input([-1, 0, 0, 0, 0], [1, 4, 2, 4, 3, 4]));
    const xs = [1, 2, 3].map((i) => l.x[i]).sort((a, b) => a - b);
    expect(new Set([1, 2, 3].map((i) => l.y[i])).size).toBe(1);
    expect(xs[1] - xs[0]).toBeGreaterThanOrEqual(NODE_W);
    expect(xs[2] - xs[1]).toBeGreaterThanOrEqual(NODE_W);
  });

  it('hides helper runs and bridges the edges through them', () => {
    // 1 -> _getitem 2 -> _make_list 3 -> 4, and 5 -> _make_list 3.
    const l = layoutGraph(input([-1, 0, 0, 0, 0, 0], [1, 2, 2, 3, 3, 4, 5, 3], [], [2, 3]));
    expect(Array.from(l.nodes)).toEqual([0, 1, 4, 5]);
    expect(Number.isNaN(l.x[2])).toBe(true);
    expect(edgePairs(l)).toEqual(['1->4', '5->4']);
    expect(rowOf(l, 4)).toBeGreaterThan(rowOf(l, 1));
  });

  it('keeps nested runs collapsed unless expanded, lifting their edges to the compound', () => {
    // root 0: a=1 (nested: 3 -> 4), b=2; edge 4 -> 2 (a nested run feeds b).
    const parents = [-1, 0, 0, 1, 1];
    const edges = [3, 4, 4, 2];
    const collapsed = layoutGraph(input(parents, edges));
    expect(Array.from(collapsed.nodes)).toEqual([0, 1, 2]);
    expect(collapsed.kind[1]).toBe(1);
    expect(collapsed.descendants[1]).toBe(2);
    expect(collapsed.descendants[0]).toBe(4);
    expect(edgePairs(collapsed)).toEqual(['1->2']);

    const open = layoutGraph(input(parents, edges, [1]));
    expect(Array.from(open.nodes)).toEqual([0, 1, 2, 3, 4]);
    expect(open.kind[1]).toBe(2);
    expect(edgePairs(open)).toEqual(['1->2', '3->4']);
    // The expanded compound holds its children and grew past a leaf's size.
    expect(open.h[1]).toBeGreaterThan(NODE_H);
    for (const i of [3, 4]) {
      expect(open.x[i]).toBeGreaterThanOrEqual(open.x[1]);
      expect(open.x[i] + open.w[i]).toBeLessThanOrEqual(open.x[1] + open.w[1]);
      expect(open.y[i] + open.h[i]).toBeLessThanOrEqual(open.y[1] + open.h[1]);
    }
    expect(open.y[2]).toBeGreaterThan(open.y[1] + open.h[1] - 1);
  });

  it('is deterministic', () => {
    const parents = [-1, 0, 0, 0, 1, 1, 0];
    const edges = [1, 2, 1, 3, 2, 6, 3, 6, 4, 5];
    const a = layoutGraph(input(parents, edges, [1]));
    const b = layoutGraph(input(parents, edges, [1]));
    expect(a).toEqual(b);
  });

  it('orders a layer by its predecessors so edges do not cross needlessly', () => {
    // 1 -> 4 and 2 -> 3: 3 should sit under 2, 4 under 1.
    const l = layoutGraph(input([-1, 0, 0, 0, 0], [1, 4, 2, 3]));
    expect(l.x[1]).toBeLessThan(l.x[2]);
    expect(l.x[4]).toBeLessThan(l.x[3]);
  });

  it('caches by key', () => {
    const i = input([-1, 0], []);
    expect(cachedLayout('k1', i)).toBe(cachedLayout('k1', i));
  });

  it('packs a 100,000-run fan-out into a square-ish block, quickly', () => {
    const n = 100_000;
    const parents = [-1, 0]; // root, the source
    const edges: number[] = [];
    for (let i = 0; i < n; i++) {
      parents.push(0);
      edges.push(1, 2 + i, 2 + i, n + 2);
    }
    parents.push(0); // the reducer
    const inp = input(parents, edges);
    const t0 = performance.now();
    const l = layoutGraph(inp);
    const ms = performance.now() - t0;
    console.log(`layout of a ${n.toLocaleString('en')}-run fan-out (${parents.length} runs, ${edges.length / 2} edges): ${ms.toFixed(1)} ms`);
    expect(l.nodes.length).toBe(n + 3);
    const ratio = l.width / l.height;
    expect(ratio).toBeGreaterThan(0.25);
    expect(ratio).toBeLessThan(4);
    // The source above every leaf, the reducer below.
    expect(l.y[1]).toBeLessThan(l.y[2]);
    expect(l.y[n + 2]).toBeGreaterThan(l.y[n + 1]);
    // No two leaves overlap: same row, distinct x.
    const seen = new Set<string>();
    for (let i = 2; i < n + 2; i++) seen.add(`${l.x[i]},${l.y[i]}`);
    expect(seen.size).toBe(n);
  });
});

describe('isHelperFunction', () => {
  it('knows the function paths our runs and Sematic give helpers', () => {
    expect(isHelperFunction('sematic.function._make_list')).toBe(true);
    expect(isHelperFunction('sematic.function._make_tuple')).toBe(true);
    expect(isHelperFunction('sematic.future_operators.getitem._getitem')).toBe(true);
    expect(isHelperFunction('__main__.make_list')).toBe(false);
  });
});
