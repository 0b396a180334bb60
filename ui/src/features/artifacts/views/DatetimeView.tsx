import type { ReactElement } from 'react';
import type { ValueViewProps } from '../ValueView';
import { ReprView } from './ReprView';

/** datetime: its ISO-8601 text, with the local time beside when it parses. */
export function DatetimeView(props: ValueViewProps): ReactElement {
  const { summary } = props;
  if (typeof summary !== 'string') return <ReprView {...props} />;
  const t = Date.parse(summary);
  return (
    <span className="value value-datetime" data-view="datetime">
      <time dateTime={summary}>{summary}</time>
      {!Number.isNaN(t) && <span className="muted"> ({new Date(t).toLocaleString()})</span>}
    </span>
  );
}
