/** Notes of a pipeline run (docs/server.md "The read API"). */
import { apiDelete, apiGet, apiPost, query } from '../../api/http';
import type { Note } from '../../api/types';

export async function fetchNotes(rootId: string, signal: AbortSignal): Promise<Note[]> {
  return (
    await apiGet<{ content: Note[] }>('/api/v1/notes' + query({ filters: JSON.stringify({ root_id: { eq: rootId } }) }), signal)
  ).content;
}

export async function addNote(rootId: string, runId: string, note: string): Promise<Note> {
  return (await apiPost<{ content: Note }>('/api/v1/notes', { note: { note, run_id: runId, root_id: rootId } })).content;
}

export async function deleteNote(id: string): Promise<void> {
  await apiDelete<unknown>(`/api/v1/notes/${encodeURIComponent(id)}`);
}
