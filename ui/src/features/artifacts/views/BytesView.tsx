import type { ReactElement } from 'react';
import type { ValueViewProps } from '../ValueView';

/** bytes: Sematic summarises them by repr (`b'\x00...'`). */
export function BytesView({ summary }: ValueViewProps): ReactElement {
  const text =
    summary !== null && typeof summary === 'object' && typeof (summary as { repr?: unknown }).repr === 'string'
      ? (summary as { repr: string }).repr
      : typeof summary === 'string'
        ? summary
        : JSON.stringify(summary);
  return (
    <code className="value value-bytes" data-view="bytes">
      {text}
    </code>
  );
}
