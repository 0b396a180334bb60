import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState, type ReactElement } from 'react';
import type { FutureState } from '../../api/types';
import { stateKind, stateLabel, type StateKind } from '../../components/states';
import { stateAt, type GraphModel } from './graphModel';
import type { Layout } from './layout';
import {
  contains,
  countInRect,
  cullEdges,
  cullNodes,
  detailFor,
  DOM_LIMIT,
  initialTransform,
  worldRect,
  zoomAt,
  type Rect,
  type Transform,
} from './viewport';
import './graph.css';

/** Fills for the canvas, as app.css colours the states. */
const COLOURS: Record<StateKind, string> = {
  created: '#9aa3af',
  running: '#3b82f6',
  resolved: '#2e9d5b',
  failed: '#d6453d',
  canceled: '#a3793a',
};
const TINTS: Record<StateKind, string> = {
  created: '#f3f4f6',
  running: '#e8f0fe',
  resolved: '#e7f5ec',
  failed: '#fbe9e8',
  canceled: '#f6efe4',
};

const KIND_LIST: StateKind[] = ['created', 'running', 'resolved', 'failed', 'canceled'];
const KIND_INDEX = new Map<StateKind, number>(KIND_LIST.map((k, i) => [k, i]));

/** Each run's colour family (an index into KIND_LIST), once per model revision. */
function colourKinds(m: GraphModel): Uint8Array {
  const out = new Uint8Array(m.count);
  for (let i = 0; i < m.count; i++) out[i] = KIND_INDEX.get(stateKind(stateAt(m, i))) ?? 0;
  return out;
}

/** The graph's test hooks (ui/README.md). */
export interface SematicGraphHooks {
  select(runId: string): void;
  nodeScreenPosition(runId: string): { x: number; y: number } | null;
  stats(): { nodes: number; drawn: number; lastFrameMs: number };
}

declare global {
  interface Window {
    __sematicGraph?: SematicGraphHooks;
  }
}

interface GraphViewProps {
  model: GraphModel;
  layout: Layout;
  selected: number | null;
  onSelect(runId: string): void;
  onToggle(index: number): void;
}

interface DomFrame {
  rect: Rect;
  nodes: number[];
  edges: number[];
  revision: number;
  layout: Layout;
}

const EMPTY_DRAWN = new Uint8Array(0);

/** A cleared mark array of `n` (a new one each call: the last frame's stays valid for the hooks). */
function markFor(n: number): Uint8Array {
  return new Uint8Array(n);
}
const DRAG_PX = 4;
const TOGGLE = 22;

/** Add edge k to the canvas path: a vertical S-curve from the source's bottom to the destination's top. */
function traceEdge(ctx: CanvasRenderingContext2D, l: Layout, k: number): void {
  const s = l.edges[2 * k];
  const d = l.edges[2 * k + 1];
  const sx = l.x[s] + l.w[s] / 2;
  const sy = l.y[s] + l.h[s];
  const dx = l.x[d] + l.w[d] / 2;
  const dy = l.y[d];
  const my = (sy + dy) / 2;
  ctx.moveTo(sx, sy);
  ctx.bezierCurveTo(sx, my, dx, my, dx, dy);
}

/**
 * The DAG: pan by dragging, zoom with the wheel, click a node to select it.
 * Draws only what meets the viewport: DOM nodes while at most DOM_LIMIT are
 * in view, a canvas with less detail as the zoom drops past that.
 */
export function GraphView({ model, layout, selected, onSelect, onToggle }: GraphViewProps): ReactElement {
  const box = useRef<HTMLDivElement>(null);
  const layer = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const transform = useRef<Transform | null>(null);
  const size = useRef({ w: 800, h: 600 });
  const [mode, setMode] = useState<'dom' | 'canvas'>('dom');
  const modeRef = useRef<'dom' | 'canvas'>('dom');
  const [dom, setDom] = useState<DomFrame | null>(null);
  /** The frame last given to setDom (paint decides from it without waiting for a render). */
  const domFrame = useRef<DomFrame | null>(null);
  const [detail, setDetail] = useState(detailFor(1));
  const stats = useRef({ drawn: 0, lastFrameMs: 0, frameStart: 0 });
  const drawn = useRef<Uint8Array>(EMPTY_DRAWN);
  const ready = useRef(false);
  const [isReady, setReady] = useState(false);
  const raf = useRef(0);
  const kindCache = useRef<{ revision: number; rootId: string; kinds: Uint8Array } | null>(null);
  const kindsOf = useCallback((m: GraphModel): Uint8Array => {
    const c = kindCache.current;
    if (c !== null && c.revision === m.revision && c.rootId === m.rootId && c.kinds.length === m.count) return c.kinds;
    const kinds = colourKinds(m);
    kindCache.current = { revision: m.revision, rootId: m.rootId, kinds };
    return kinds;
  }, []);
  const props = useRef({ model, layout, selected, onSelect, onToggle });
  props.current = { model, layout, selected, onSelect, onToggle };

  const markReady = useCallback((): void => {
    if (ready.current || box.current === null) return;
    ready.current = true;
    performance.mark('sematic:graph-ready');
    setReady(true);
  }, []);

  /** The canvas, sized to the box and cleared, with t as its transform; null without a 2-D context. */
  const canvasFor = useCallback((t: Transform): CanvasRenderingContext2D | null => {
    const c = canvas.current;
    if (c === null) return null;
    const dpr = window.devicePixelRatio || 1;
    const { w, h } = size.current;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext('2d');
    if (ctx === null) return null;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.setTransform(dpr * t.k, 0, 0, dpr * t.k, dpr * t.tx, dpr * t.ty);
    return ctx;
  }, []);

  /*
   * In DOM mode the edges still go on the canvas, under the nodes: as SVG paths in the scaled
   * layer, every re-cull re-rasterised thousands of long curves (frames of 150-180 ms at
   * 100,000 runs in bench/ui_paint.ts; 17 ms without them). Redrawn each frame: a few ms.
   */
  const drawDomEdges = useCallback(
    (t: Transform, frame: DomFrame): void => {
      const ctx = canvasFor(t);
      if (ctx === null) return;
      ctx.strokeStyle = '#98a2b3';
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      for (const k of frame.edges) traceEdge(ctx, frame.layout, k);
      ctx.stroke();
    },
    [canvasFor],
  );

  const drawCanvas = useCallback((t: Transform, view: Rect): number => {
    const { model: m, layout: l, selected: sel } = props.current;
    const ctx = canvasFor(t);
    if (ctx === null) return 0;
    const nodes = cullNodes(l, view);
    const lod = detailFor(t.k);
    const kinds = kindsOf(m);
    // Compounds (frames) first, then leaves batched by colour into one path each.
    ctx.lineWidth = 1 / t.k;
    for (const i of nodes) {
      if (l.kind[i] !== 2) continue;
      ctx.fillStyle = '#fafbfc';
      ctx.fillRect(l.x[i], l.y[i], l.w[i], l.h[i]);
      ctx.strokeStyle = COLOURS[KIND_LIST[kinds[i]]];
      ctx.strokeRect(l.x[i], l.y[i], l.w[i], l.h[i]);
    }
    const mark = markFor(m.count);
    for (const i of nodes) mark[i] = 1;
    if (t.k >= 0.12) {
      const edges = cullEdges(l, mark, view, 20000);
      ctx.strokeStyle = '#b8c0cc';
      ctx.beginPath();
      for (const k of edges) {
        const s = l.edges[2 * k];
        const d = l.edges[2 * k + 1];
        ctx.moveTo(l.x[s] + l.w[s] / 2, l.y[s] + l.h[s]);
        ctx.lineTo(l.x[d] + l.w[d] / 2, l.y[d]);
      }
      ctx.stroke();
    }
    for (let c = 0; c < KIND_LIST.length; c++) {
      const kind = KIND_LIST[c];
      ctx.beginPath();
      let any = false;
      for (const i of nodes) {
        if (kinds[i] !== c || l.kind[i] === 2) continue;
        ctx.rect(l.x[i], l.y[i], l.w[i], l.h[i]);
        any = true;
      }
      if (!any) continue;
      ctx.fillStyle = lod === 'box' ? COLOURS[kind] : TINTS[kind];
      ctx.fill();
      if (lod !== 'box') {
        ctx.fillStyle = COLOURS[kind];
        ctx.beginPath();
        for (const i of nodes) if (kinds[i] === c && l.kind[i] !== 2) ctx.rect(l.x[i], l.y[i], 5, l.h[i]);
        ctx.fill();
      }
    }
    if (lod !== 'box') {
      ctx.fillStyle = '#1f2933';
      ctx.font = '13px system-ui, sans-serif';
      ctx.textBaseline = 'middle';
      for (const i of nodes) {
        const label = l.kind[i] === 1 ? `${m.names[i]} (${l.descendants[i]})` : m.names[i];
        const ty = l.kind[i] === 2 ? l.y[i] + 17 : l.y[i] + l.h[i] / 2;
        ctx.fillText(label, l.x[i] + 12, ty, l.w[i] - 20);
      }
    }
    if (sel !== null && !Number.isNaN(l.x[sel])) {
      ctx.strokeStyle = '#3559e0';
      ctx.lineWidth = Math.max(3 / t.k, 2);
      ctx.strokeRect(l.x[sel], l.y[sel], l.w[sel], l.h[sel]);
    }
    drawn.current = mark;
    return nodes.length;
  }, [kindsOf, canvasFor]);

  const paint = useCallback(
    (force: boolean): void => {
      raf.current = 0;
      const t = transform.current;
      const { layout: l, model: m } = props.current;
      if (t === null) return;
      const t0 = performance.now();
      const { w, h } = size.current;
      const view = worldRect(t, w, h);
      const inView = countInRect(l, view, DOM_LIMIT);
      const next = inView > DOM_LIMIT ? 'canvas' : 'dom';
      if (next !== modeRef.current) {
        modeRef.current = next;
        setMode(next);
      }
      setDetail((d) => (d === detailFor(t.k) ? d : detailFor(t.k)));
      if (next === 'canvas') {
        stats.current.drawn = drawCanvas(t, view);
        stats.current.lastFrameMs = performance.now() - t0;
        markReady();
        return;
      }
      if (layer.current !== null) layer.current.style.transform = `translate(${t.tx}px, ${t.ty}px) scale(${t.k})`;
      let frame = domFrame.current;
      if (force || frame === null || frame.layout !== l || frame.revision !== m.revision || !contains(frame.rect, view)) {
        stats.current.frameStart = t0;
        const rect = worldRect(t, w, h, 0.25);
        const nodes = cullNodes(l, rect, 2 * DOM_LIMIT);
        const mark = new Uint8Array(m.count);
        for (const i of nodes) mark[i] = 1;
        drawn.current = mark;
        const edges = cullEdges(l, mark, rect, 3 * DOM_LIMIT);
        frame = { rect, nodes, edges, revision: m.revision, layout: l };
        domFrame.current = frame;
        setDom(frame);
      } else {
        stats.current.lastFrameMs = performance.now() - t0;
      }
      drawDomEdges(t, frame);
    },
    [drawCanvas, drawDomEdges, markReady],
  );

  const schedule = useCallback(
    (force = false): void => {
      if (force) {
        if (raf.current !== 0) cancelAnimationFrame(raf.current);
        raf.current = 0;
        paint(true);
        return;
      }
      if (raf.current === 0) raf.current = requestAnimationFrame(() => paint(false));
    },
    [paint],
  );

  // Size, and the first transform once there is a layout.
  useLayoutEffect(() => {
    const el = box.current;
    if (el === null) return;
    const measure = (): void => {
      const w = el.clientWidth || 800;
      const h = el.clientHeight || 600;
      size.current = { w, h };
    };
    measure();
    if (typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => {
      measure();
      schedule(true);
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [schedule]);

  useLayoutEffect(() => {
    if (transform.current === null) {
      const { w, h } = size.current;
      transform.current = initialTransform(layout, w, h);
    }
    schedule(true);
  }, [layout, model, selected, schedule]);

  // The DOM frame's cost: from the paint that asked for it to its commit.
  useLayoutEffect(() => {
    if (dom === null) return;
    if (stats.current.frameStart > 0) {
      stats.current.lastFrameMs = performance.now() - stats.current.frameStart;
      stats.current.frameStart = 0;
    }
    markReady();
  }, [dom, markReady]);

  useEffect(() => () => cancelAnimationFrame(raf.current), []);

  // Pan by dragging (a press that barely moves is a click), zoom with the wheel.
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    let down: { x: number; y: number; tx: number; ty: number; moved: boolean; id: number } | null = null;
    const onDown = (e: PointerEvent): void => {
      if (e.button !== 0 || transform.current === null) return;
      down = { x: e.clientX, y: e.clientY, tx: transform.current.tx, ty: transform.current.ty, moved: false, id: e.pointerId };
    };
    const onMove = (e: PointerEvent): void => {
      if (down === null || transform.current === null) return;
      const dx = e.clientX - down.x;
      const dy = e.clientY - down.y;
      if (!down.moved && Math.hypot(dx, dy) < DRAG_PX) return;
      if (!down.moved) {
        down.moved = true;
        el.setPointerCapture?.(down.id);
        el.classList.add('dragging');
      }
      transform.current = { ...transform.current, tx: down.tx + dx, ty: down.ty + dy };
      schedule();
    };
    const onUp = (e: PointerEvent): void => {
      if (down === null) return;
      const wasDrag = down.moved;
      down = null;
      el.classList.remove('dragging');
      if (wasDrag) {
        // Swallow the click that ends a drag.
        const stop = (ce: MouseEvent): void => {
          ce.stopPropagation();
          ce.preventDefault();
        };
        window.addEventListener('click', stop, { capture: true, once: true });
        window.setTimeout(() => window.removeEventListener('click', stop, { capture: true }), 0);
        return;
      }
      if (modeRef.current === 'canvas') canvasClick(e);
    };
    const canvasClick = (e: PointerEvent): void => {
      const t = transform.current;
      if (t === null) return;
      const r = el.getBoundingClientRect();
      const wx = (e.clientX - r.left - t.tx) / t.k;
      const wy = (e.clientY - r.top - t.ty) / t.k;
      const { layout: l, model: m } = props.current;
      const hits = cullNodes(l, { x: wx, y: wy, w: 0, h: 0 });
      const i = hits[hits.length - 1];
      if (i === undefined) return;
      if (l.kind[i] !== 0 && wx > l.x[i] + l.w[i] - TOGGLE / Math.min(1, t.k) && wy < l.y[i] + TOGGLE / Math.min(1, t.k))
        props.current.onToggle(i);
      else props.current.onSelect(m.ids[i]);
    };
    const onWheel = (e: WheelEvent): void => {
      if (transform.current === null) return;
      e.preventDefault();
      const r = el.getBoundingClientRect();
      const factor = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015));
      transform.current = zoomAt(transform.current, factor, e.clientX - r.left, e.clientY - r.top);
      schedule();
    };
    el.addEventListener('pointerdown', onDown);
    el.addEventListener('pointermove', onMove);
    el.addEventListener('pointerup', onUp);
    el.addEventListener('pointercancel', onUp);
    el.addEventListener('wheel', onWheel, { passive: false });
    return () => {
      el.removeEventListener('pointerdown', onDown);
      el.removeEventListener('pointermove', onMove);
      el.removeEventListener('pointerup', onUp);
      el.removeEventListener('pointercancel', onUp);
      el.removeEventListener('wheel', onWheel);
    };
  }, [schedule]);

  // Test hooks.
  useEffect(() => {
    const hooks: SematicGraphHooks = {
      select: (runId) => props.current.onSelect(runId),
      nodeScreenPosition: (runId) => {
        const { model: m, layout: l } = props.current;
        const i = m.index.get(runId);
        const t = transform.current;
        if (i === undefined || t === null || box.current === null || Number.isNaN(l.x[i])) return null;
        const { w, h } = size.current;
        const view = worldRect(t, w, h);
        if (l.x[i] > view.x + view.w || l.y[i] > view.y + view.h || l.x[i] + l.w[i] < view.x || l.y[i] + l.h[i] < view.y)
          return null;
        if (drawn.current[i] !== 1) return null;
        const r = box.current.getBoundingClientRect();
        // The centre of the node's visible part (its header for an expanded compound).
        const cy = l.kind[i] === 2 ? l.y[i] + 14 : l.y[i] + l.h[i] / 2;
        return {
          x: r.left + window.scrollX + t.tx + (l.x[i] + l.w[i] / 2) * t.k,
          y: r.top + window.scrollY + t.ty + cy * t.k,
        };
      },
      stats: () => ({ nodes: props.current.layout.nodes.length, drawn: stats.current.drawn, lastFrameMs: stats.current.lastFrameMs }),
    };
    window.__sematicGraph = hooks;
    return () => {
      if (window.__sematicGraph === hooks) delete window.__sematicGraph;
    };
  }, []);

  // Bring a selected run into view when it is off screen.
  useEffect(() => {
    const t = transform.current;
    if (selected === null || t === null || Number.isNaN(layout.x[selected])) return;
    const { w, h } = size.current;
    const view = worldRect(t, w, h);
    const i = selected;
    const inside =
      layout.x[i] >= view.x && layout.y[i] >= view.y && layout.x[i] + layout.w[i] <= view.x + view.w && layout.y[i] + Math.min(layout.h[i], 40) <= view.y + view.h;
    if (inside) return;
    const k = Math.max(t.k, 0.6);
    transform.current = { k, tx: w / 2 - (layout.x[i] + layout.w[i] / 2) * k, ty: h / 3 - layout.y[i] * k };
    schedule(true);
  }, [selected, layout, schedule]);

  if (dom !== null && mode === 'dom') stats.current.drawn = dom.nodes.length;
  const l = layout;
  return (
    <div
      ref={box}
      className={`graph-box detail-${detail}`}
      data-testid="run-graph"
      data-ready={isReady ? 'true' : 'false'}
      data-node-count={layout.nodes.length}
      data-render-mode={mode}
      tabIndex={0}
      aria-label="Pipeline graph"
    >
      <canvas ref={canvas} className="graph-canvas" />
      <div ref={layer} className="graph-layer" hidden={mode !== 'dom'}>
        {mode === 'dom' &&
          dom !== null &&
          dom.nodes.map((i) => (
            <DagNode
              key={model.ids[i]}
              index={i}
              runId={model.ids[i]}
              name={model.names[i]}
              functionPath={model.functions[i]}
              state={stateAt(model, i)}
              kind={l.kind[i]}
              x={l.x[i]}
              y={l.y[i]}
              w={l.w[i]}
              h={l.h[i]}
              descendants={l.descendants[i]}
              selected={i === selected}
              onSelect={onSelect}
              onToggle={onToggle}
            />
          ))}
      </div>
    </div>
  );
}

interface DagNodeProps {
  index: number;
  runId: string;
  name: string;
  functionPath: string;
  state: FutureState;
  kind: number;
  x: number;
  y: number;
  w: number;
  h: number;
  descendants: number;
  selected: boolean;
  onSelect(runId: string): void;
  onToggle(index: number): void;
}

/** One run drawn in the DOM; memoised, so a pan re-renders only the runs that came into view. */
const DagNode = memo(function DagNode(p: DagNodeProps): ReactElement {
  return (
    <div
      data-testid="dag-node"
      data-run-id={p.runId}
      data-state={p.state}
      data-compound={p.kind !== 0 ? 'true' : undefined}
      className={`dag-node state-${stateKind(p.state)}${p.kind === 2 ? ' expanded' : ''}${p.selected ? ' selected' : ''}`}
      style={{ left: p.x, top: p.y, width: p.w, height: p.h }}
      title={`${p.name} · ${stateLabel(p.state)}\n${p.functionPath}`}
      onClick={(e) => {
        e.stopPropagation();
        p.onSelect(p.runId);
      }}
    >
      <span className="dag-node-name">{p.name}</span>
      {p.kind !== 0 && (
        <button
          type="button"
          className="dag-expand"
          data-testid="dag-expand"
          aria-expanded={p.kind === 2}
          aria-label={`${p.kind === 2 ? 'Collapse' : 'Expand'} ${p.name}`}
          onClick={(e) => {
            e.stopPropagation();
            p.onToggle(p.index);
          }}
        >
          {p.kind === 2 ? '−' : '+'} {p.descendants}
        </button>
      )}
    </div>
  );
});
