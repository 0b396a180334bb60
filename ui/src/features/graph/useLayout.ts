import { useEffect, useState } from 'react';
import { cachedLayout, peekLayout, rememberLayout, type Layout, type LayoutInput } from './layout';
import type { LayoutRequest, LayoutResponse } from './layoutWorker';

/** Graphs with more runs than this are laid out in a Web Worker. */
export const WORKER_THRESHOLD = 2000;

let worker: Worker | null = null;
let nextId = 1;
const waiting = new Map<number, (r: LayoutResponse) => void>();

function layoutWorker(): Worker | null {
  if (typeof Worker === 'undefined') return null;
  if (worker === null) {
    worker = new Worker(new URL('./layoutWorker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (ev: MessageEvent<LayoutResponse>): void => {
      const done = waiting.get(ev.data.id);
      waiting.delete(ev.data.id);
      done?.(ev.data);
    };
  }
  return worker;
}

/** Starts the worker ahead of need (its script loads while the graph is being read). */
export function warmLayoutWorker(): void {
  layoutWorker();
}

/** `layoutGraph(input)` in the worker (synchronously where there is none). */
export function layoutInWorker(key: string, input: LayoutInput): Promise<Layout> {
  const w = layoutWorker();
  if (w === null) return Promise.resolve(cachedLayout(key, input));
  return new Promise((resolve, reject) => {
    const id = nextId++;
    waiting.set(id, (r) => {
      if (r.layout !== undefined) {
        rememberLayout(key, r.layout);
        resolve(r.layout);
      } else reject(new Error(r.error ?? 'layout failed'));
    });
    // The model's arrays are copied (structured clone), never transferred: the page keeps them.
    w.postMessage({ id, input } satisfies LayoutRequest);
  });
}

export interface LayoutState {
  layout: Layout | null;
  /** The key `layout` was made for (it lags behind `key` while the worker works). */
  layoutKey: string | null;
  error: Error | null;
}

/**
 * The layout for `key`/`input`: cached, synchronous for small graphs, from
 * the worker above WORKER_THRESHOLD runs (the previous layout stays shown
 * meanwhile).
 */
export function useLayout(key: string | null, input: LayoutInput | null): LayoutState {
  const small = input !== null && input.count <= WORKER_THRESHOLD;
  const syncLayout = key !== null && input !== null && small ? cachedLayout(key, input) : null;
  const [async, setAsync] = useState<LayoutState>({ layout: null, layoutKey: null, error: null });
  useEffect(() => {
    if (key === null || input === null || small) return;
    const hit = peekLayout(key);
    if (hit !== undefined) {
      setAsync({ layout: hit, layoutKey: key, error: null });
      return;
    }
    let live = true;
    layoutInWorker(key, input).then(
      (layout) => {
        if (live) setAsync({ layout, layoutKey: key, error: null });
      },
      (e: unknown) => {
        if (live) setAsync((s) => ({ ...s, error: e instanceof Error ? e : new Error(String(e)) }));
      },
    );
    return () => {
      live = false;
    };
  }, [key, input, small]);
  if (syncLayout !== null) return { layout: syncLayout, layoutKey: key, error: null };
  return async;
}
