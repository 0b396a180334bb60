import { useEffect, useState, type ReactElement } from 'react';
import type { IsoTime } from '../api/types';
import { formatAbsoluteTime, formatRelativeTime } from './time';

/** "5 min ago", kept current (every 30 s), with the exact local time as its tooltip. */
export function RelativeTime({ time }: { time: IsoTime | null }): ReactElement {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 30000);
    return () => window.clearInterval(timer);
  }, []);
  return (
    <time dateTime={time ?? undefined} title={formatAbsoluteTime(time)}>
      {formatRelativeTime(time, now)}
    </time>
  );
}
