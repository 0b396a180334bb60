import type { ReactElement } from 'react';
import { ValueView, type ValueViewProps } from '../ValueView';
import { unwrap, type TypeRegistry, type TypeTriple } from '../typeSerialization';
import { ReprView } from './ReprView';

interface DataclassSummary {
  values: Record<string, unknown>;
  types?: Record<string, unknown>;
  root_type?: { type: TypeTriple; registry?: TypeRegistry };
}

function isDataclassSummary(s: unknown): s is DataclassSummary {
  return s !== null && typeof s === 'object' && !Array.isArray(s) && typeof (s as { values?: unknown }).values === 'object';
}

/**
 * A dataclass: a tree of its fields, each by its own view. The summary's
 * `root_type` is the value's class (a subclass, maybe), and `types` a field's
 * class where it differs from the declared one.
 */
export function DataclassView(props: ValueViewProps): ReactElement {
  const { type, registry, summary, depth } = props;
  if (!isDataclassSummary(summary)) return <ReprView {...props} />;
  const root = summary.root_type !== undefined ? unwrap(summary.root_type) : type;
  const reg = { ...registry, ...(summary.root_type?.registry ?? {}) };
  const declared = (root[2].fields ?? type[2].fields ?? {}) as Record<string, unknown>;
  const names = Object.keys(declared).length > 0 ? Object.keys(declared) : Object.keys(summary.values);
  return (
    <details className="value value-dataclass" data-view="dataclass" open={depth < 2}>
      <summary>
        <code>{root[1]}</code>
      </summary>
      <ul className="value-fields">
        {names.map((f) => {
          const override = summary.types?.[f];
          const ft = override !== undefined ? unwrap(override) : unwrap(declared[f]);
          return (
            <li key={f} data-testid="dataclass-field" data-field={f}>
              <span className="field-name">{f}</span>
              <span className="dict-sep">: </span>
              <ValueView type={ft} registry={reg} summary={summary.values[f]} depth={depth + 1} />
            </li>
          );
        })}
      </ul>
    </details>
  );
}
