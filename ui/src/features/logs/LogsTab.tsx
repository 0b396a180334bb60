import { useEffect, useRef, useState, type ReactElement } from 'react';
import type { EventHub } from '../../api/eventHub';
import { ROW_PX, lineWindow } from './logWindow';
import { useLogs } from './useLogs';
import './logs.css';

/**
 * The Logs tab: the run's lines, earlier ones on demand, new ones as they come, and a search.
 * Only the lines in view are drawn (logWindow.ts); it follows the end while scrolled there.
 */
export function LogsTab({ runId, hub }: { runId: string; hub: EventHub }): ReactElement {
  const [input, setInput] = useState('');
  const [filter, setFilter] = useState('');
  useEffect(() => {
    const t = window.setTimeout(() => setFilter(input), 250);
    return () => window.clearTimeout(t);
  }, [input]);
  const logs = useLogs(runId, filter, hub);
  const box = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const [view, setView] = useState({ top: 0, height: 0 });
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    if (atBottom.current) el.scrollTop = el.scrollHeight;
    setView({ top: el.scrollTop, height: el.clientHeight });
  }, [logs.lines]);
  const { start, end } = lineWindow(view.top, view.height, logs.lines.length);
  return (
    <div className="logs">
      <input
        type="search"
        data-testid="log-search"
        placeholder="Search logs..."
        value={input}
        onChange={(e) => setInput(e.target.value)}
        aria-label="Search logs"
      />
      {logs.error !== null && <div className="error-box" role="alert">{logs.error}</div>}
      <div
        className="log-lines"
        ref={box}
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
          setView({ top: el.scrollTop, height: el.clientHeight });
        }}
      >
        {logs.canLoadEarlier && (
          <button type="button" data-testid="log-earlier" onClick={logs.loadEarlier} disabled={logs.loading}>
            Load earlier lines
          </button>
        )}
        {logs.lines.length > 0 && (
          <div className="log-rows" style={{ height: logs.lines.length * ROW_PX }}>
            <div style={{ transform: `translateY(${start * ROW_PX}px)` }}>
              {logs.lines.slice(start, end).map((l) => (
                <div key={l.id} className="log-line" data-testid="log-line" data-line-id={l.id} title={l.text}>
                  {l.text}
                </div>
              ))}
            </div>
          </div>
        )}
        {logs.lines.length === 0 && !logs.loading && <p className="muted">{logs.info ?? 'No log lines.'}</p>}
        {logs.loading && logs.lines.length === 0 && <p className="muted">Loading…</p>}
      </div>
    </div>
  );
}
