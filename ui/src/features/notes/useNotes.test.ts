import type { Note } from '../../api/types';
import { applyNoteEvent } from './useNotes';

const note = (id: string, at: string): Note => ({
  id,
  note: `note ${id}`,
  run_id: 'r',
  root_id: 'r',
  user_id: null,
  user: null,
  created_at: at,
  updated_at: at,
});

describe('applyNoteEvent', () => {
  it('adds, replaces and deletes, oldest first', () => {
    const a = note('a', '2026-01-01T00:00:00+00:00');
    const b = note('b', '2026-01-02T00:00:00+00:00');
    let list = applyNoteEvent([], { id: 'b', deleted: false, note: b });
    list = applyNoteEvent(list, { id: 'a', deleted: false, note: a });
    expect(list.map((n) => n.id)).toEqual(['a', 'b']);
    list = applyNoteEvent(list, { id: 'a', deleted: false, note: a });
    expect(list).toHaveLength(2);
    list = applyNoteEvent(list, { id: 'a', deleted: true, note: null });
    expect(list.map((n) => n.id)).toEqual(['b']);
  });
});
