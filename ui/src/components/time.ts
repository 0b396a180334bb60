/** Times and durations as the dashboard writes them. */
import type { IsoTime } from '../api/types';

/** Milliseconds since the epoch of a server time, or null when absent or unreadable. */
export function parseTime(t: IsoTime | null | undefined): number | null {
  if (t === null || t === undefined || t === '') return null;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : ms;
}

/** `0.42 s`, `12.3 s`, `3m 04s`, `2h 05m`, `3d 4h`. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  if (seconds < 0) seconds = 0;
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.floor(seconds);
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** `just now`, `42 s ago`, `5 min ago`, `3 h ago`, `2 days ago`, then the date. */
export function formatRelativeTime(t: IsoTime | null | undefined, now: number = Date.now()): string {
  const ms = parseTime(t);
  if (ms === null) return '—';
  const ago = Math.round((now - ms) / 1000);
  // A minute ahead is the clocks of the server and the browser disagreeing.
  if (ago < -60) return formatAbsoluteTime(t);
  if (ago < 5) return 'just now';
  if (ago < 60) return `${ago} s ago`;
  if (ago < 3600) return `${Math.floor(ago / 60)} min ago`;
  if (ago < 86400) return `${Math.floor(ago / 3600)} h ago`;
  const days = Math.floor(ago / 86400);
  if (days < 30) return days === 1 ? 'yesterday' : `${days} days ago`;
  return formatAbsoluteTime(t);
}

/** `2026-11-22 10:04:05`, local time. */
export function formatAbsoluteTime(t: IsoTime | null | undefined): string {
  const ms = parseTime(t);
  if (ms === null) return '—';
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

interface Timed {
  created_at: IsoTime;
  started_at: IsoTime | null;
  ended_at: IsoTime | null;
  resolved_at: IsoTime | null;
  failed_at: IsoTime | null;
}

/**
 * A run's duration in seconds: from its start (else its creation) to its end
 * (resolved, failed or ended); for a run still going, until `now`.
 */
export function runDurationSeconds(run: Timed, now: number = Date.now()): number | null {
  const start = parseTime(run.started_at) ?? parseTime(run.created_at);
  if (start === null) return null;
  const end = parseTime(run.resolved_at) ?? parseTime(run.failed_at) ?? parseTime(run.ended_at) ?? now;
  return (end - start) / 1000;
}
