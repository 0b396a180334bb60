/**
 * Coalesces live events per animation frame: items pushed during a frame are
 * handed to `flush` together, once, before the next paint. A burst of 1,000
 * run deltas is one state update, not 1,000.
 */
export interface FrameBatch<T> {
  push: (item: T) => void;
  /** Drops what is pending and stops. */
  cancel: () => void;
}

export function createFrameBatch<T>(flush: (items: T[]) => void): FrameBatch<T> {
  let pending: T[] = [];
  let handle: number | null = null;
  const raf =
    typeof window.requestAnimationFrame === 'function'
      ? (cb: () => void): number => window.requestAnimationFrame(cb)
      : (cb: () => void): number => window.setTimeout(cb, 16);
  const caf =
    typeof window.cancelAnimationFrame === 'function'
      ? (h: number): void => window.cancelAnimationFrame(h)
      : (h: number): void => window.clearTimeout(h);
  const run = (): void => {
    handle = null;
    const items = pending;
    pending = [];
    if (items.length > 0) flush(items);
  };
  return {
    push(item: T): void {
      pending.push(item);
      if (handle === null) handle = raf(run);
    },
    cancel(): void {
      if (handle !== null) caf(handle);
      handle = null;
      pending = [];
    },
  };
}
