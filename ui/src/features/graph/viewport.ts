/**
 * Viewport math for the graph: the pan/zoom transform, what part of the
 * layout a view shows, which nodes and edges fall in it, and the level of
 * detail to draw them with. Pure functions, tested beside.
 */
import type { Layout } from './layout';

/** screen = world * k + (tx, ty), in CSS pixels of the graph's container. */
export interface Transform {
  tx: number;
  ty: number;
  k: number;
}

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export const MIN_ZOOM = 0.005;
export const MAX_ZOOM = 3;
/** Above this many nodes in view the graph draws on a canvas, not in the DOM. */
export const DOM_LIMIT = 1000;

export function clampZoom(k: number): number {
  return Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, k));
}

/** The world rectangle a `width` x `height` view shows under `t`, grown by `margin` of its size each side. */
export function worldRect(t: Transform, width: number, height: number, margin = 0): Rect {
  const w = width / t.k;
  const h = height / t.k;
  return { x: -t.tx / t.k - w * margin, y: -t.ty / t.k - h * margin, w: w * (1 + 2 * margin), h: h * (1 + 2 * margin) };
}

export function screenToWorld(t: Transform, sx: number, sy: number): { x: number; y: number } {
  return { x: (sx - t.tx) / t.k, y: (sy - t.ty) / t.k };
}

export function worldToScreen(t: Transform, x: number, y: number): { x: number; y: number } {
  return { x: x * t.k + t.tx, y: y * t.k + t.ty };
}

/** The transform after zooming by `factor` about the screen point (sx, sy), which stays put. */
export function zoomAt(t: Transform, factor: number, sx: number, sy: number): Transform {
  const k = clampZoom(t.k * factor);
  const f = k / t.k;
  return { k, tx: sx - (sx - t.tx) * f, ty: sy - (sy - t.ty) * f };
}

/** Whether `inner` lies inside `outer`. */
export function contains(outer: Rect, inner: Rect): boolean {
  return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w && inner.y + inner.h <= outer.y + outer.h;
}

/** The shown runs whose box meets `r`, in drawing order; stops counting past `limit` (returns limit + 1 items then). */
export function cullNodes(layout: Layout, r: Rect, limit = Infinity): number[] {
  const out: number[] = [];
  const { nodes, x, y, w, h } = layout;
  const x1 = r.x + r.w;
  const y1 = r.y + r.h;
  for (let t = 0; t < nodes.length; t++) {
    const i = nodes[t];
    if (x[i] > x1 || y[i] > y1 || x[i] + w[i] < r.x || y[i] + h[i] < r.y) continue;
    out.push(i);
    if (out.length > limit) break;
  }
  return out;
}

/** How many shown runs meet `r` (at most limit + 1). */
export function countInRect(layout: Layout, r: Rect, limit: number): number {
  return cullNodes(layout, r, limit).length;
}

/**
 * The edges to draw: those with an end among `drawn` whose line meets `r`,
 * at most `limit` of them (edge index k: pair edges[2k], edges[2k+1]).
 */
export function cullEdges(layout: Layout, drawn: Uint8Array, r: Rect, limit: number): number[] {
  const out: number[] = [];
  const { edges, x, y, w, h } = layout;
  const x1 = r.x + r.w;
  const y1 = r.y + r.h;
  for (let k = 0; k + 1 < edges.length && out.length < limit; k += 2) {
    const s = edges[k];
    const d = edges[k + 1];
    if (drawn[s] === 0 && drawn[d] === 0) continue;
    const sx = x[s] + w[s] / 2;
    const sy = y[s] + h[s];
    const dx = x[d] + w[d] / 2;
    const dy = y[d];
    if (Math.max(sx, dx) < r.x || Math.min(sx, dx) > x1 || Math.max(sy, dy) < r.y || Math.min(sy, dy) > y1) continue;
    out.push(k >> 1);
  }
  return out;
}

/** Level of detail for a zoom: 'full' (names, states), 'label' (names only), 'box' (coloured boxes). */
export type Detail = 'full' | 'label' | 'box';

export function detailFor(k: number): Detail {
  if (k >= 0.6) return 'full';
  if (k >= 0.3) return 'label';
  return 'box';
}

/** The transform that shows the top of the layout, fitting its width when it can. */
export function initialTransform(layout: Layout, width: number, height: number): Transform {
  const margin = 24;
  const fitW = (width - 2 * margin) / Math.max(1, layout.width);
  const fitH = (height - 2 * margin) / Math.max(1, layout.height);
  // Small graphs fit whole; big ones open at a readable zoom on the top centre.
  const k = clampZoom(Math.min(1, Math.max(Math.min(fitW, fitH), 0.35)));
  const tx = layout.width * k <= width - 2 * margin ? (width - layout.width * k) / 2 : width / 2 - (layout.width / 2) * k;
  const ty = layout.height * k <= height - 2 * margin ? (height - layout.height * k) / 2 : margin;
  return { k, tx, ty };
}
