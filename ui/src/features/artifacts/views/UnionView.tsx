import type { ReactElement } from 'react';
import { ValueView, type ValueViewProps } from '../ValueView';
import { typeArgs, type TypeTriple } from '../typeSerialization';

/** Whether a summary has the shape member type `t` writes. */
export function summaryFits(t: TypeTriple, s: unknown): boolean {
  const [category, key] = t;
  if (key === 'NoneType') return s === null;
  if (category === 'builtin') {
    if (key === 'bool') return typeof s === 'boolean';
    if (key === 'int') return typeof s === 'number' && Number.isInteger(s);
    if (key === 'float') return typeof s === 'number';
    if (key === 'str') return typeof s === 'string';
    return s !== null;
  }
  if (category === 'typing') {
    if (key === 'list' || key === 'set') return s !== null && typeof s === 'object' && 'summary' in s && 'length' in s;
    if (key === 'tuple' || key === 'dict') return Array.isArray(s);
    return true;
  }
  if (category === 'dataclass') return s !== null && typeof s === 'object' && 'values' in s;
  return s !== null;
}

/** Optional[T] and Union[...]: Sematic summarises the member the value is; the first member it fits renders it. */
export function UnionView({ type, registry, summary, depth }: ValueViewProps): ReactElement {
  const members = typeArgs(type);
  const member = members.find((m) => summaryFits(m, summary)) ?? members.find((m) => m[1] !== 'NoneType') ?? ['builtin', 'object', {}];
  return (
    <span className="value value-union" data-view="union" data-member={member[1]}>
      <ValueView type={member} registry={registry} summary={summary} depth={depth} />
    </span>
  );
}
