import type { ReactElement } from 'react';
import { ValueView, type ValueViewProps } from '../ValueView';
import { typeArgs, typeName } from '../typeSerialization';
import { ReprView } from './ReprView';
import { ShowMore } from './ShowMore';

/** List[T] and Set[T]: Sematic's `{"length": n, "summary": [...]}`, long ones truncated. */
export function ListView(props: ValueViewProps): ReactElement {
  const { type, registry, summary, depth } = props;
  let items: unknown[];
  let total: number;
  if (Array.isArray(summary)) {
    items = summary;
    total = summary.length;
  } else if (summary !== null && typeof summary === 'object' && Array.isArray((summary as { summary?: unknown }).summary)) {
    items = (summary as { summary: unknown[] }).summary;
    const len = (summary as { length?: unknown }).length;
    total = typeof len === 'number' ? len : items.length;
  } else return <ReprView {...props} />;
  const elem = typeArgs(type)[0] ?? (['builtin', 'object', {}] as const);
  const open = depth < 2;
  const label = `${type[1] === 'set' ? 'set' : 'list'} of ${total} ${typeName([...elem])}`;
  return (
    <details className="value value-list" data-view={type[1]} open={open}>
      <summary>{label}</summary>
      <ol className="value-items" start={0}>
        <ShowMore
          count={items.length}
          total={total}
          render={(i) => (
            <li key={i} data-testid="list-item">
              <ValueView type={[...elem]} registry={registry} summary={items[i]} depth={depth + 1} />
            </li>
          )}
        />
      </ol>
    </details>
  );
}
