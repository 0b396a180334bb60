import { useCallback, useEffect, useRef, useState } from 'react';
import type { EventHub } from '../../api/eventHub';
import { fetchLogs, type LogsPage } from './logsApi';
import { capLines } from './logWindow';

export interface LogLine {
  id: number;
  text: string;
}

export interface LogsState {
  lines: LogLine[];
  loading: boolean;
  error: string | null;
  info: string | null;
  canLoadEarlier: boolean;
  loadEarlier(): void;
}

const PAGE = 200;

/** Merges lines by id, oldest first, none twice. */
export function mergeLines(a: readonly LogLine[], b: readonly LogLine[]): LogLine[] {
  if (b.length === 0) return a as LogLine[];
  const last = a.length === 0 ? -Infinity : a[a.length - 1].id;
  if (b[0].id > last) return [...a, ...b];
  const byId = new Map<number, LogLine>();
  for (const l of a) byId.set(l.id, l);
  for (const l of b) byId.set(l.id, l);
  return [...byId.values()].sort((x, y) => x.id - y.id);
}

function linesOf(p: LogsPage): LogLine[] {
  return p.lines.map((text, i) => ({ id: p.line_ids[i] ?? i, text }));
}

/**
 * A run's log lines: the last page first (reverse), earlier pages on demand,
 * new lines live from `logs` events (those holding `filter` when one is set).
 */
export function useLogs(runId: string, filter: string, hub: EventHub): LogsState {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [info, setInfo] = useState<string | null>(null);
  const reverseCursor = useRef<string | null>(null);
  const [canLoadEarlier, setCanLoadEarlier] = useState(false);
  const controller = useRef<AbortController | null>(null);

  useEffect(() => {
    const c = new AbortController();
    controller.current = c;
    setLines([]);
    setLoading(true);
    setError(null);
    fetchLogs(runId, { maxLines: PAGE, filter, reverse: true }, c.signal).then(
      (p) => {
        if (c.signal.aborted) return;
        setLines((cur) => mergeLines(linesOf(p), cur));
        setInfo(p.log_info_message);
        reverseCursor.current = p.reverse_cursor_token;
        setCanLoadEarlier(p.can_continue_backward && p.reverse_cursor_token !== null);
        setLoading(false);
      },
      (e: unknown) => {
        if (c.signal.aborted) return;
        setError(e instanceof Error ? e.message : String(e));
        setLoading(false);
      },
    );
    const off = hub.on('logs', (p) => {
      if (p.run_id !== runId) return;
      const fresh = p.lines.filter((l) => filter === '' || l.text.includes(filter)).map((l) => ({ id: l.id, text: l.text }));
      if (fresh.length > 0) {
        setLines((cur) => capLines(mergeLines(cur, fresh)));
        setInfo(null);
      }
    });
    return () => {
      c.abort();
      off();
    };
  }, [runId, filter, hub]);

  const loadEarlier = useCallback((): void => {
    const cursor = reverseCursor.current;
    const c = controller.current;
    if (cursor === null || c === null) return;
    setLoading(true);
    fetchLogs(runId, { maxLines: PAGE, filter, reverse: true, reverseCursor: cursor }, c.signal).then(
      (p) => {
        if (c.signal.aborted) return;
        setLines((cur) => mergeLines(linesOf(p), cur));
        reverseCursor.current = p.reverse_cursor_token;
        setCanLoadEarlier(p.can_continue_backward && p.reverse_cursor_token !== null);
        setLoading(false);
      },
      (e: unknown) => {
        if (c.signal.aborted) return;
        setError(e instanceof Error ? e.message : String(e));
        setLoading(false);
      },
    );
  }, [runId, filter]);

  return { lines, loading, error, info, canLoadEarlier, loadEarlier };
}
