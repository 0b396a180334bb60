import { useEffect, useState, type ReactElement } from 'react';
import type { IsoTime } from '../api/types';
import { formatAbsoluteTime, formatRelativeTime } from './time';

/** "5 min ago", kept current (every 30 s), with the exact local time as its tooltip. */
export function RelativeTime({ time }: { time: IsoTime | null }): ReactElement {
  // Ticks re-render it; the text is always against the current time, so a
  // row that just arrived never reads as "in the future".
  const [, setTick] = useState(0);
  useEffect(() => {
    const timer = window.setInterval(() => setTick((t) => t + 1), 30000);
    return () => window.clearInterval(timer);
  }, []);
  return (
    <time dateTime={time ?? undefined} title={formatAbsoluteTime(time)}>
      {formatRelativeTime(time, Date.now())}
    </time>
  );
}
