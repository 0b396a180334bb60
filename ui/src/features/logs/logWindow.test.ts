import { MAX_LINES, ROW_PX, capLines, lineWindow } from './logWindow';

describe('lineWindow', () => {
  it('draws the rows in view and some either side, never past the ends', () => {
    // 100,000 lines, scrolled to line 5,000, a 360 px box: 20 rows in view, 30 either side.
    expect(lineWindow(5000 * ROW_PX, 360, 100_000)).toEqual({ start: 4970, end: 5050 });
    expect(lineWindow(0, 360, 100_000)).toEqual({ start: 0, end: 50 });
    expect(lineWindow(99_990 * ROW_PX, 360, 100_000)).toEqual({ start: 99_960, end: 100_000 });
  });

  it('handles few lines, a box not laid out yet, and a scroll past the end', () => {
    expect(lineWindow(0, 360, 3)).toEqual({ start: 0, end: 3 });
    expect(lineWindow(0, 0, 1000).end).toBe(Math.ceil(600 / ROW_PX) + 30);
    expect(lineWindow(10_000 * ROW_PX, 360, 10)).toEqual({ start: 10, end: 10 });
    expect(lineWindow(0, 360, 0)).toEqual({ start: 0, end: 0 });
  });
});

describe('capLines', () => {
  it('keeps the newest lines past the cap, and the same array below it', () => {
    const few = [1, 2, 3];
    expect(capLines(few)).toBe(few);
    const many = Array.from({ length: MAX_LINES + 5 }, (_, i) => i);
    const kept = capLines(many);
    expect(kept.length).toBe(MAX_LINES);
    expect(kept[0]).toBe(5);
    expect(kept[kept.length - 1]).toBe(MAX_LINES + 4);
  });
});
