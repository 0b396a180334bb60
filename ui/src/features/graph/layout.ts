/**
 * The graph's layout: a pure function of the structure (parents, hidden
 * helper runs, edges) and the set of expanded compounds, to positions and
 * sizes. Linear-ish by design (ui/README.md, notes/sematic-dashboard-at-scale.md:
 * dagre's network simplex is what kills Sematic's dashboard at 3,000 runs):
 *
 * - each expanded run (the root always) lays out its shown children in
 *   layers by longest path from the sources (Kahn's order, O(V + E));
 * - a layer is ordered once, top-down, by the barycentre of each node's
 *   predecessors (one sort per layer);
 * - a layer of more than WRAP_AT nodes is packed into rows (shelf packing
 *   toward a square block), so a 100,000-run fan-out is a ~190 x 530 grid
 *   rather than a line 20 million pixels long;
 * - compounds are laid out bottom-up (a child's box before its parent's),
 *   then placed top-down.
 *
 * Helper runs (`_make_list`, `_make_tuple`, `_getitem`) are hidden and the
 * edges through them bridged (a → helper → b becomes a → b). Runs inside a
 * collapsed compound are not laid out; their edges are lifted to the
 * compound, or to the siblings of the lowest common container.
 */

export const NODE_W = 180;
export const NODE_H = 44;
const H_GAP = 24;
const ROW_GAP = 20;
const LAYER_GAP = 56;
const PAD = 16;
export const HEADER_H = 34;
/** Layers wider than this many nodes are packed into rows. */
export const WRAP_AT = 48;

/** A compound's kind in a layout: 0 a leaf, 1 collapsed (has children), 2 expanded. */
export type NodeKind = 0 | 1 | 2;

export interface LayoutInput {
  /** Runs, parents before their children. */
  count: number;
  /** Parent run index, -1 for a root. */
  parent: Int32Array;
  /** 1 for a helper run, hidden from the graph. */
  hidden: Uint8Array;
  /** (source, destination) run index pairs. */
  edges: Int32Array;
  /** Indexes of the expanded compounds (roots are always expanded). */
  expanded: Int32Array;
}

export interface Layout {
  /** Runs shown, in drawing order (a compound before what it holds). */
  nodes: Int32Array;
  /** Per run index: top-left corner and size (NaN when not shown). */
  x: Float64Array;
  y: Float64Array;
  w: Float64Array;
  h: Float64Array;
  /** Per run index, see NodeKind. */
  kind: Uint8Array;
  /** Per run index: how many runs are inside it (all depths, helpers included). */
  descendants: Int32Array;
  /** (source, destination) pairs between shown runs, helpers bridged, deduplicated. */
  edges: Int32Array;
  width: number;
  height: number;
}

/** Whether a function path is one of Sematic's helper runs, hidden from the graph. */
export function isHelperFunction(functionPath: string): boolean {
  const dot = functionPath.lastIndexOf('.');
  const name = dot < 0 ? functionPath : functionPath.slice(dot + 1);
  return name === '_make_list' || name === '_make_tuple' || name === '_getitem';
}

/** Compressed adjacency: the items of key k are list[start[k]..start[k+1]). */
interface Csr {
  start: Int32Array;
  list: Int32Array;
}

function csr(n: number, keys: ArrayLike<number>, values: ArrayLike<number>, m: number): Csr {
  const start = new Int32Array(n + 1);
  for (let i = 0; i < m; i++) start[keys[i] + 1]++;
  for (let k = 0; k < n; k++) start[k + 1] += start[k];
  const fill = start.slice(0, n);
  const list = new Int32Array(m);
  for (let i = 0; i < m; i++) list[fill[keys[i]]++] = values[i];
  return { start, list };
}

/** The layout of `input`. Pure and deterministic: same input, same output. */
export function layoutGraph(input: LayoutInput): Layout {
  const n = input.count;
  const parent = input.parent;
  const hidden = input.hidden;

  const depth = new Int32Array(n);
  const expanded = new Uint8Array(n);
  for (let i = 0; i < input.expanded.length; i++) {
    const e = input.expanded[i];
    if (e >= 0 && e < n) expanded[e] = 1;
  }
  const descendants = new Int32Array(n);
  const shownKids = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const p = parent[i];
    if (p < 0) expanded[i] = 1;
    else depth[i] = depth[p] + 1;
  }
  for (let i = n - 1; i >= 0; i--) {
    const p = parent[i];
    if (p >= 0) {
      descendants[p] += descendants[i] + 1;
      if (hidden[i] === 0) shownKids[p]++;
    }
  }

  // rep[i]: the run that stands for i (itself when shown, else its collapsed ancestor).
  const rep = new Int32Array(n);
  const shown = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const p = parent[i];
    if (p < 0) rep[i] = i;
    else {
      const rp = rep[p];
      rep[i] = rp === p && expanded[p] === 1 && shown[p] === 1 ? i : rp;
    }
    shown[i] = rep[i] === i && hidden[i] === 0 ? 1 : 0;
  }
  const kind = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (shown[i] === 1 && shownKids[i] > 0) kind[i] = expanded[i] === 1 ? 2 : 1;
  }

  // Edges lifted to siblings: both ends shown or hidden helpers with a common parent.
  const e = input.edges;
  const rawA = new Int32Array(e.length >> 1);
  const rawB = new Int32Array(e.length >> 1);
  let raw = 0;
  for (let k = 0; k + 1 < e.length; k += 2) {
    const s = e[k];
    const d = e[k + 1];
    if (s < 0 || d < 0 || s >= n || d >= n) continue;
    let a = rep[s];
    let b = rep[d];
    if (a === b) continue;
    while (parent[a] !== parent[b]) {
      if (depth[a] > depth[b]) a = parent[a];
      else if (depth[b] > depth[a]) b = parent[b];
      else {
        a = parent[a];
        b = parent[b];
      }
    }
    if (a === b) continue;
    rawA[raw] = a;
    rawB[raw] = b;
    raw++;
  }
  // Deduplicated by source with a stamp per destination (no hashing: O(E)).
  const stamp = new Int32Array(n).fill(-1);
  const out = csr(n, rawA, rawB, raw);
  for (let a = 0; a < n; a++) {
    let to = out.start[a];
    for (let j = out.start[a]; j < out.start[a + 1]; j++) {
      const b = out.list[j];
      if (stamp[b] === a) continue;
      stamp[b] = a;
      out.list[to++] = b;
    }
    for (let j = to; j < out.start[a + 1]; j++) out.list[j] = -1;
  }

  // Bridge hidden helpers: a -> h -> ... -> b becomes a -> b.
  const memo = new Map<number, number[]>();
  const visibleSuccessors = (h: number): number[] => {
    const got = memo.get(h);
    if (got !== undefined) return got;
    memo.set(h, []); // a cycle through helpers ends here
    const res: number[] = [];
    for (let j = out.start[h]; j < out.start[h + 1]; j++) {
      const v = out.list[j];
      if (v < 0) break;
      if (hidden[v] === 0) res.push(v);
      else for (const w of visibleSuccessors(v)) res.push(w);
    }
    memo.set(h, res);
    return res;
  };
  let fSrc = new Int32Array(raw + 16);
  let fDst = new Int32Array(raw + 16);
  let m = 0;
  stamp.fill(-1);
  const addEdge = (a: number, b: number): void => {
    if (a === b || stamp[b] === a) return;
    stamp[b] = a;
    if (m === fSrc.length) {
      const grow = (arr: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
        const g = new Int32Array(arr.length * 2);
        g.set(arr);
        return g;
      };
      fSrc = grow(fSrc);
      fDst = grow(fDst);
    }
    fSrc[m] = a;
    fDst[m] = b;
    m++;
  };
  for (let a = 0; a < n; a++) {
    if (hidden[a] === 1) continue;
    for (let j = out.start[a]; j < out.start[a + 1]; j++) {
      const b = out.list[j];
      if (b < 0) break;
      if (hidden[b] === 0) addEdge(a, b);
      else for (const v of visibleSuccessors(b)) addEdge(a, v);
    }
  }

  // Per container: its shown children and the edges among them.
  const kidParent: number[] = [];
  const kidList: number[] = [];
  for (let i = 0; i < n; i++) {
    if (shown[i] === 1 && parent[i] >= 0) {
      kidParent.push(parent[i]);
      kidList.push(i);
    }
  }
  const kids = csr(n, kidParent, kidList, kidList.length);
  const succ = csr(n, fSrc, fDst, m);
  const predCount = new Int32Array(n);
  for (let k = 0; k < m; k++) predCount[fDst[k]]++;
  const pred = csr(n, fDst, fSrc, m);

  const w = new Float64Array(n).fill(NaN);
  const h = new Float64Array(n).fill(NaN);
  const x = new Float64Array(n).fill(NaN);
  const y = new Float64Array(n).fill(NaN);
  // Positions relative to the container's content box, filled bottom-up.
  const rx = new Float64Array(n);
  const ry = new Float64Array(n);
  const layer = new Int32Array(n);
  const orderPos = new Float64Array(n);
  const indeg = new Int32Array(n);

  const layoutContainer = (c: number): void => {
    const k0 = kids.start[c];
    const k1 = kids.start[c + 1];
    const count = k1 - k0;
    // Longest-path layers, Kahn's order over the container's children.
    const queue = new Int32Array(count);
    let qh = 0;
    let qt = 0;
    for (let j = k0; j < k1; j++) {
      const v = kids.list[j];
      indeg[v] = predCount[v];
      layer[v] = 0;
      if (indeg[v] === 0) queue[qt++] = v;
    }
    let maxLayer = 0;
    while (qh < qt) {
      const u = queue[qh++];
      for (let j = succ.start[u]; j < succ.start[u + 1]; j++) {
        const v = succ.list[j];
        if (layer[u] + 1 > layer[v]) layer[v] = layer[u] + 1;
        if (--indeg[v] === 0) queue[qt++] = v;
      }
      if (layer[u] > maxLayer) maxLayer = layer[u];
    }
    if (qt < count) {
      // A cycle (never in a Sematic graph): the rest go below.
      maxLayer++;
      for (let j = k0; j < k1; j++) {
        const v = kids.list[j];
        if (indeg[v] > 0) layer[v] = maxLayer;
      }
    }
    const layers: number[][] = Array.from({ length: maxLayer + 1 }, () => []);
    for (let j = k0; j < k1; j++) layers[layer[kids.list[j]]].push(kids.list[j]);

    let width = 0;
    let cy = 0;
    const rowsOf: { nodes: number[]; width: number; height: number }[][] = [];
    for (let L = 0; L < layers.length; L++) {
      const nodes = layers[L];
      if (L > 0) {
        // Barycentre of the predecessors' positions; ties keep creation order.
        const bary = new Float64Array(nodes.length);
        for (let t = 0; t < nodes.length; t++) {
          const v = nodes[t];
          let sum = 0;
          let cnt = 0;
          for (let j = pred.start[v]; j < pred.start[v + 1]; j++) {
            sum += orderPos[pred.list[j]];
            cnt++;
          }
          bary[t] = cnt === 0 ? 0.5 : sum / cnt;
        }
        const idx = Array.from(nodes.keys());
        idx.sort((p, q) => bary[p] - bary[q] || nodes[p] - nodes[q]);
        layers[L] = idx.map((t) => nodes[t]);
      }
      const ordered = layers[L];
      for (let t = 0; t < ordered.length; t++) orderPos[ordered[t]] = ordered.length === 1 ? 0.5 : t / (ordered.length - 1);
      // Rows: one, or shelves toward a square block when the layer is wide.
      let target = Infinity;
      if (ordered.length > WRAP_AT) {
        let area = 0;
        let widest = 0;
        for (const v of ordered) {
          area += (w[v] + H_GAP) * (h[v] + ROW_GAP);
          widest = Math.max(widest, w[v]);
        }
        target = Math.max(widest, Math.sqrt(area) * 1.6);
      }
      const rows: { nodes: number[]; width: number; height: number }[] = [];
      let row = { nodes: [] as number[], width: 0, height: 0 };
      for (const v of ordered) {
        const add = (row.nodes.length > 0 ? H_GAP : 0) + w[v];
        if (row.nodes.length > 0 && row.width + add > target) {
          rows.push(row);
          row = { nodes: [], width: 0, height: 0 };
        }
        row.width += row.nodes.length > 0 ? H_GAP + w[v] : w[v];
        row.height = Math.max(row.height, h[v]);
        row.nodes.push(v);
      }
      if (row.nodes.length > 0) rows.push(row);
      rowsOf.push(rows);
      for (const r of rows) width = Math.max(width, r.width);
    }
    for (let L = 0; L < rowsOf.length; L++) {
      if (L > 0) cy += LAYER_GAP;
      const rows = rowsOf[L];
      for (let ri = 0; ri < rows.length; ri++) {
        const r = rows[ri];
        if (ri > 0) cy += ROW_GAP;
        // Full rows start at the left; a lone row or a wrapped layer's last row is centred.
        let cx = rows.length === 1 ? (width - r.width) / 2 : 0;
        for (const v of r.nodes) {
          rx[v] = cx;
          ry[v] = cy + (r.height - h[v]) / 2;
          cx += w[v] + H_GAP;
        }
        cy += r.height;
      }
    }
    w[c] = Math.max(NODE_W, width + 2 * PAD);
    h[c] = HEADER_H + cy + 2 * PAD;
    // Centre the content when the header's minimum width is wider.
    const shift = (w[c] - 2 * PAD - width) / 2;
    if (shift > 0) for (let j = k0; j < k1; j++) rx[kids.list[j]] += shift;
  };

  // Bottom-up: children come after parents, so walk backwards.
  for (let i = n - 1; i >= 0; i--) {
    if (shown[i] === 0) continue;
    if (kind[i] === 2) layoutContainer(i);
    else {
      w[i] = NODE_W;
      h[i] = NODE_H;
    }
  }

  // Top-down: absolute positions; roots stacked vertically.
  const nodes: number[] = [];
  let width = 0;
  let height = 0;
  for (let i = 0; i < n; i++) {
    if (shown[i] === 0) continue;
    nodes.push(i);
    const p = parent[i];
    if (p < 0) {
      if (height > 0) height += LAYER_GAP;
      x[i] = 0;
      y[i] = height;
      height += h[i];
      width = Math.max(width, w[i]);
    } else {
      x[i] = x[p] + PAD + rx[i];
      y[i] = y[p] + HEADER_H + PAD + ry[i];
    }
  }
  const edges = new Int32Array(2 * m);
  for (let k = 0; k < m; k++) {
    edges[2 * k] = fSrc[k];
    edges[2 * k + 1] = fDst[k];
  }
  return { nodes: Int32Array.from(nodes), x, y, w, h, kind, descendants, edges, width, height };
}

/** The typed arrays of a layout, for transferring it from a worker. */
export function layoutTransferables(l: Layout): ArrayBuffer[] {
  return [l.nodes, l.x, l.y, l.w, l.h, l.kind, l.descendants, l.edges].map((a) => a.buffer as ArrayBuffer);
}

const CACHE_SIZE = 8;
const cache = new Map<string, Layout>();

/** `layoutGraph(input)`, remembered under `key` (which must determine the input). */
export function cachedLayout(key: string, input: LayoutInput): Layout {
  const hit = cache.get(key);
  if (hit !== undefined) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const l = layoutGraph(input);
  rememberLayout(key, l);
  return l;
}

/** Keep a layout computed elsewhere (the worker) in the cache. */
export function rememberLayout(key: string, l: Layout): void {
  cache.set(key, l);
  while (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
}

/** A cached layout, if there is one. */
export function peekLayout(key: string): Layout | undefined {
  return cache.get(key);
}
