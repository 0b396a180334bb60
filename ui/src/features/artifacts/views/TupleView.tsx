import type { ReactElement } from 'react';
import { ValueView, type ValueViewProps } from '../ValueView';
import { typeArgs, typeName } from '../typeSerialization';
import { ReprView } from './ReprView';

/** Tuple[A, B, ...]: one summary per element, each of its own type. */
export function TupleView(props: ValueViewProps): ReactElement {
  const { type, registry, summary, depth } = props;
  if (!Array.isArray(summary)) return <ReprView {...props} />;
  const args = typeArgs(type);
  return (
    <details className="value value-tuple" data-view="tuple" open={depth < 2}>
      <summary>tuple ({args.map(typeName).join(', ')})</summary>
      <ol className="value-items" start={0}>
        {summary.map((v, i) => (
          <li key={i}>
            <ValueView type={args[i] ?? ['builtin', 'object', {}]} registry={registry} summary={v} depth={depth + 1} />
          </li>
        ))}
      </ol>
    </details>
  );
}
