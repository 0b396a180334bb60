/**
 * Which log lines to draw: the Logs tab renders only the rows in view (plus
 * some either side), each ROW_PX high, so a run with 100,000 lines costs the
 * page a few dozen DOM nodes.
 */

/** The height of one log line, in CSS pixels (logs.css sets the same). */
export const ROW_PX = 18;

/** Lines kept in memory: past this the oldest are dropped (the server still has them). */
export const MAX_LINES = 100_000;

/** Rows drawn above and below the viewport, so a fast scroll shows no gap. */
const OVERSCAN = 30;

/** When the box has not been laid out yet (or in tests), assume this viewport height. */
const FALLBACK_VIEWPORT_PX = 600;

export interface LineWindow {
  /** First line drawn. */
  start: number;
  /** One past the last line drawn. */
  end: number;
}

/** The lines to draw out of `count`, for a box scrolled to `scrollTop` showing `viewportPx`. */
export function lineWindow(scrollTop: number, viewportPx: number, count: number): LineWindow {
  const height = viewportPx > 0 ? viewportPx : FALLBACK_VIEWPORT_PX;
  const first = Math.floor(Math.max(0, scrollTop) / ROW_PX);
  const start = Math.max(0, Math.min(count, first - OVERSCAN));
  const end = Math.min(count, first + Math.ceil(height / ROW_PX) + OVERSCAN);
  return { start, end: Math.max(start, end) };
}

/** The newest MAX_LINES of `lines` (the same array when it is short enough). */
export function capLines<T>(lines: T[]): T[] {
  return lines.length > MAX_LINES ? lines.slice(lines.length - MAX_LINES) : lines;
}
