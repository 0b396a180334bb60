import { layoutGraph } from './layout';
import { contains, cullEdges, cullNodes, detailFor, initialTransform, screenToWorld, worldRect, worldToScreen, zoomAt } from './viewport';

describe('viewport math', () => {
  it('maps between screen and world', () => {
    const t = { k: 2, tx: 100, ty: -50 };
    expect(worldToScreen(t, 10, 20)).toEqual({ x: 120, y: -10 });
    expect(screenToWorld(t, 120, -10)).toEqual({ x: 10, y: 20 });
    expect(worldRect(t, 800, 600)).toEqual({ x: -50, y: 25, w: 400, h: 300 });
    expect(worldRect(t, 800, 600, 0.5)).toEqual({ x: -250, y: -125, w: 800, h: 600 });
  });

  it('zooms about the pointer, which stays on the same world point', () => {
    const t = { k: 1, tx: 0, ty: 0 };
    const z = zoomAt(t, 2, 300, 200);
    expect(z.k).toBe(2);
    expect(screenToWorld(z, 300, 200)).toEqual(screenToWorld(t, 300, 200));
    expect(zoomAt(t, 1e9, 0, 0).k).toBe(3);
  });

  it('tells rectangles apart', () => {
    expect(contains({ x: 0, y: 0, w: 10, h: 10 }, { x: 1, y: 1, w: 5, h: 5 })).toBe(true);
    expect(contains({ x: 0, y: 0, w: 10, h: 10 }, { x: 6, y: 1, w: 5, h: 5 })).toBe(false);
  });

  it('culls nodes and edges to a rectangle', () => {
    // A row of 10 leaves under a source (a layer narrower than the wrap).
    const parents = [-1, 0];
    const edges: number[] = [];
    for (let i = 0; i < 10; i++) {
      parents.push(0);
      edges.push(1, 2 + i);
    }
    const l = layoutGraph({
      count: parents.length,
      parent: Int32Array.from(parents),
      hidden: new Uint8Array(parents.length),
      edges: Int32Array.from(edges),
      expanded: new Int32Array(0),
    });
    const all = cullNodes(l, { x: -1e9, y: -1e9, w: 2e9, h: 2e9 });
    expect(all).toEqual(Array.from(l.nodes));
    // Just the first two leaves (and the root, whose box holds them).
    const r = { x: l.x[2], y: l.y[2], w: l.x[3] + 1 - l.x[2], h: 10 };
    expect(cullNodes(l, r)).toEqual([0, 2, 3]);
    expect(cullNodes(l, r, 1)).toHaveLength(2);
    const drawn = new Uint8Array(parents.length);
    drawn[2] = 1;
    drawn[3] = 1;
    expect(cullEdges(l, drawn, { x: -1e9, y: -1e9, w: 2e9, h: 2e9 }, 100)).toEqual([0, 1]);
    expect(cullEdges(l, drawn, { x: -1e9, y: -1e9, w: 2e9, h: 2e9 }, 1)).toEqual([0]);
    // Nothing far away.
    expect(cullNodes(l, { x: 1e6, y: 1e6, w: 10, h: 10 })).toEqual([]);
  });

  it('drops detail as the zoom drops', () => {
    expect(detailFor(1)).toBe('full');
    expect(detailFor(0.4)).toBe('label');
    expect(detailFor(0.1)).toBe('box');
  });

  it('opens a small graph whole and a big one at a readable zoom', () => {
    const small = { width: 400, height: 300 } as Parameters<typeof initialTransform>[0];
    expect(initialTransform(small, 800, 600).k).toBe(1);
    const big = { width: 40000, height: 40000 } as Parameters<typeof initialTransform>[0];
    const t = initialTransform(big, 1000, 800);
    expect(t.k).toBeCloseTo(0.35);
    expect(t.ty).toBe(24);
  });
});
