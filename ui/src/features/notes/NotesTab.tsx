import { useState, type FormEvent, type ReactElement } from 'react';
import type { EventHub } from '../../api/eventHub';
import { formatAbsoluteTime } from '../../components/time';
import { useNotes } from './useNotes';

function author(n: { user: { first_name: string | null; last_name: string | null } | null }): string {
  if (n.user === null) return 'Anonymous';
  return [n.user.first_name, n.user.last_name].filter((s) => s !== null && s !== '').join(' ') || 'Anonymous';
}

/** The Notes tab: the pipeline run's notes, newest last; a note added here is attached to the selected run. */
export function NotesTab({ rootId, runId, hub }: { rootId: string; runId: string; hub: EventHub }): ReactElement {
  const notes = useNotes(rootId, runId, hub);
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const onSubmit = (e: FormEvent): void => {
    e.preventDefault();
    const t = text.trim();
    if (t === '' || sending) return;
    setSending(true);
    notes.add(t).then(
      () => {
        setText('');
        setSending(false);
      },
      () => setSending(false),
    );
  };
  return (
    <div className="notes">
      {notes.loading && notes.notes.length === 0 && <p className="muted">Loading…</p>}
      {!notes.loading && notes.notes.length === 0 && <p className="muted">No notes yet.</p>}
      <ul className="note-list">
        {notes.notes.map((n) => (
          <li key={n.id} className={`note${n.run_id === runId ? ' note-this-run' : ''}`} data-testid="note" data-note-id={n.id}>
            <div className="note-meta muted">
              {author(n)} · {formatAbsoluteTime(n.created_at)}
              {n.run_id !== runId && <> · on run <code>{n.run_id.slice(0, 12)}</code></>}
              <button type="button" className="note-delete" data-testid="note-delete" aria-label="Delete note" onClick={() => void notes.remove(n.id)}>
                Delete
              </button>
            </div>
            <div className="note-text">{n.note}</div>
          </li>
        ))}
      </ul>
      {notes.error !== null && <div className="error-box" role="alert">{notes.error}</div>}
      <form onSubmit={onSubmit} className="note-form">
        <textarea
          data-testid="note-input"
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder="Add a note about this run"
          aria-label="New note"
          rows={3}
        />
        <button type="submit" data-testid="note-submit" disabled={sending || text.trim() === ''}>
          {sending ? 'Saving…' : 'Add note'}
        </button>
      </form>
    </div>
  );
}
