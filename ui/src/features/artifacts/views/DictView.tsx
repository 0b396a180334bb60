import type { ReactElement } from 'react';
import { ValueView, type ValueViewProps } from '../ValueView';
import { typeArgs } from '../typeSerialization';
import { ReprView } from './ReprView';
import { ShowMore } from './ShowMore';

/** Dict[K, V]: Sematic's summary is a list of `[key, value]` summaries. */
export function DictView(props: ValueViewProps): ReactElement {
  const { type, registry, summary, depth } = props;
  const pairs: unknown =
    summary !== null && typeof summary === 'object' && !Array.isArray(summary) && 'items' in summary
      ? (summary as { items: unknown }).items
      : summary;
  if (!Array.isArray(pairs) || !pairs.every((p) => Array.isArray(p) && p.length === 2)) return <ReprView {...props} />;
  const [k, v] = typeArgs(type);
  const obj = ['builtin', 'object', {}] as const;
  return (
    <details className="value value-dict" data-view="dict" open={depth < 2}>
      <summary>dict of {pairs.length}</summary>
      <ul className="value-items value-pairs">
        <ShowMore
          count={pairs.length}
          total={pairs.length}
          render={(i) => {
            const [ks, vs] = pairs[i] as [unknown, unknown];
            return (
              <li key={i} data-testid="dict-item">
                <span className="dict-key">
                  <ValueView type={k ?? [...obj]} registry={registry} summary={ks} depth={depth + 1} />
                </span>
                <span className="dict-sep">: </span>
                <ValueView type={v ?? [...obj]} registry={registry} summary={vs} depth={depth + 1} />
              </li>
            );
          }}
        />
      </ul>
    </details>
  );
}
