import type { ReactElement } from 'react';
import type { ValueViewProps } from '../ValueView';

/** `None`. */
export function NoneView(_props: ValueViewProps): ReactElement {
  return (
    <span className="value value-none" data-view="none">
      None
    </span>
  );
}
