import { formatDuration, formatRelativeTime, runDurationSeconds } from './time';

describe('formatDuration', () => {
  it('picks a unit by size', () => {
    expect(formatDuration(0.4213)).toBe('0.42 s');
    expect(formatDuration(12.34)).toBe('12.3 s');
    expect(formatDuration(184)).toBe('3m 04s');
    expect(formatDuration(7500)).toBe('2h 05m');
    expect(formatDuration(3 * 86400 + 4 * 3600 + 5)).toBe('3d 4h');
    expect(formatDuration(null)).toBe('—');
  });
});

describe('formatRelativeTime', () => {
  const now = Date.parse('2026-11-22T12:00:00+00:00');
  it('says how long ago', () => {
    expect(formatRelativeTime('2026-11-22T11:59:58.5+00:00', now)).toBe('just now');
    expect(formatRelativeTime('2026-11-22T11:59:18+00:00', now)).toBe('42 s ago');
    expect(formatRelativeTime('2026-11-22T11:55:00+00:00', now)).toBe('5 min ago');
    expect(formatRelativeTime('2026-11-22T09:00:00+00:00', now)).toBe('3 h ago');
    expect(formatRelativeTime('2026-11-21T11:00:00+00:00', now)).toBe('yesterday');
    expect(formatRelativeTime('2026-11-19T11:00:00+00:00', now)).toBe('3 days ago');
    expect(formatRelativeTime(null, now)).toBe('—');
    expect(formatRelativeTime('2026-11-22T12:00:03+00:00', now)).toBe('just now'); // clock skew
    expect(formatRelativeTime('2026-11-22T13:00:00+00:00', now)).toMatch(/^2026-11-22 \d\d:00:00$/);
  });
});

describe('runDurationSeconds', () => {
  const base = { created_at: '2026-11-22T12:00:00+00:00', ended_at: null, resolved_at: null, failed_at: null };
  it('runs from start to resolution, or until now while going', () => {
    expect(
      runDurationSeconds({ ...base, started_at: '2026-11-22T12:00:01+00:00', resolved_at: '2026-11-22T12:00:03.5+00:00' }),
    ).toBe(2.5);
    expect(runDurationSeconds({ ...base, started_at: null }, Date.parse('2026-11-22T12:01:00+00:00'))).toBe(60);
  });
});
