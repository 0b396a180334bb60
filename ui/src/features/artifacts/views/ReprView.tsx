import type { ReactElement } from 'react';
import type { ValueViewProps } from '../ValueView';

/** Any value without a view of its own: its Python repr, else its summary as JSON. */
export function ReprView({ summary }: ValueViewProps): ReactElement {
  const text =
    summary !== null && typeof summary === 'object' && typeof (summary as { repr?: unknown }).repr === 'string'
      ? (summary as { repr: string }).repr
      : JSON.stringify(summary, null, 2);
  return (
    <pre className="value value-repr" data-view="repr">
      {text}
    </pre>
  );
}
