import type { ReactElement } from 'react';
import type { ValueViewProps } from '../ValueView';
import { ReprView } from './ReprView';

/** int, float, str, bool, as Python prints them. */
export function ScalarView(props: ValueViewProps): ReactElement {
  const { summary, type } = props;
  if (typeof summary === 'boolean')
    return (
      <span className="value value-bool" data-view="bool">
        {summary ? 'True' : 'False'}
      </span>
    );
  if (typeof summary === 'number') {
    const text = type[1] === 'float' && Number.isInteger(summary) ? summary.toFixed(1) : String(summary);
    return (
      <span className="value value-number" data-view="number">
        {text}
      </span>
    );
  }
  if (typeof summary === 'string') {
    if (summary.includes('\n') || summary.length > 120)
      return (
        <pre className="value value-str" data-view="str">
          {summary}
        </pre>
      );
    return (
      <span className="value value-str" data-view="str">
        {summary}
      </span>
    );
  }
  return <ReprView {...props} />;
}
