import { useCallback, useEffect, useState } from 'react';
import type { EventHub } from '../../api/eventHub';
import type { Note } from '../../api/types';
import { addNote, deleteNote, fetchNotes } from './notesApi';

export interface NotesState {
  notes: Note[];
  loading: boolean;
  error: string | null;
  add(text: string): Promise<void>;
  remove(id: string): Promise<void>;
}

/** Applies one `note` event to a list (oldest first). */
export function applyNoteEvent(notes: readonly Note[], ev: { id: string; deleted: boolean; note: Note | null }): Note[] {
  const rest = notes.filter((n) => n.id !== ev.id);
  if (ev.deleted || ev.note === null) return rest;
  return [...rest, ev.note].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
}

/** The pipeline run's notes, live on `note` events; new ones attach to `runId`. */
export function useNotes(rootId: string, runId: string, hub: EventHub): NotesState {
  const [notes, setNotes] = useState<Note[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const c = new AbortController();
    setLoading(true);
    fetchNotes(rootId, c.signal).then(
      (list) => {
        if (c.signal.aborted) return;
        setNotes((cur) => cur.reduce((acc, n) => applyNoteEvent(acc, { id: n.id, deleted: false, note: n }), list));
        setLoading(false);
      },
      (e: unknown) => {
        if (c.signal.aborted) return;
        setError(e instanceof Error ? e.message : String(e));
        setLoading(false);
      },
    );
    const off = hub.on('note', (p) => {
      if (p.root_id === rootId) setNotes((cur) => applyNoteEvent(cur, p));
    });
    return () => {
      c.abort();
      off();
    };
  }, [rootId, hub]);
  const add = useCallback(
    async (text: string): Promise<void> => {
      setError(null);
      try {
        const n = await addNote(rootId, runId, text);
        setNotes((cur) => applyNoteEvent(cur, { id: n.id, deleted: false, note: n }));
      } catch (e) {
        setError(e instanceof Error ? e.message : String(e));
        throw e;
      }
    },
    [rootId, runId],
  );
  const remove = useCallback(async (id: string): Promise<void> => {
    setError(null);
    try {
      await deleteNote(id);
      setNotes((cur) => applyNoteEvent(cur, { id, deleted: true, note: null }));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, []);
  return { notes, loading, error, add, remove };
}

