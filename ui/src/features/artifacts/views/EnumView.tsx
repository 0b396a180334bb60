import type { ReactElement } from 'react';
import type { ValueViewProps } from '../ValueView';

/** An Enum member: `Color.GREEN` (Sematic keeps the member's name). */
export function EnumView({ type, summary }: ValueViewProps): ReactElement {
  return (
    <code className="value value-enum" data-view="enum">
      {type[1]}.{String(summary)}
    </code>
  );
}
