import { mergeLines } from './useLogs';

describe('mergeLines', () => {
  it('appends newer lines and merges overlaps by id, none twice', () => {
    const a = [{ id: 1, text: 'a' }, { id: 2, text: 'b' }];
    expect(mergeLines(a, [{ id: 3, text: 'c' }]).map((l) => l.id)).toEqual([1, 2, 3]);
    expect(mergeLines(a, [{ id: 2, text: 'b' }, { id: 4, text: 'd' }]).map((l) => l.id)).toEqual([1, 2, 4]);
    expect(mergeLines([{ id: 0, text: 'z' }], a).map((l) => l.id)).toEqual([0, 1, 2]);
    expect(mergeLines(a, [])).toBe(a);
  });
});
