/**
 * One view per type of Sematic's type serialization (STYLE 57), chosen in
 * this order: the first whose `matches` says yes. Sematic's dashboard picks
 * by import path, key, dataclass, then registry parents
 * (`typeViz/vizMapping.ts`); so do these.
 */
import type { ComponentType } from 'react';
import type { ValueViewProps } from './ValueView';
import { inherits, type TypeRegistry, type TypeTriple } from './typeSerialization';
import { BytesView } from './views/BytesView';
import { DataclassView } from './views/DataclassView';
import { DatetimeView } from './views/DatetimeView';
import { DictView } from './views/DictView';
import { EnumView } from './views/EnumView';
import { ListView } from './views/ListView';
import { NoneView } from './views/NoneView';
import { ReprView } from './views/ReprView';
import { ScalarView } from './views/ScalarView';
import { TupleView } from './views/TupleView';
import { UnionView } from './views/UnionView';

export interface ViewEntry {
  name: string;
  matches(type: TypeTriple, registry: TypeRegistry, summary: unknown): boolean;
  view: ComponentType<ValueViewProps>;
}

const SCALARS = new Set(['int', 'float', 'str', 'bool']);

export function isRepr(summary: unknown): summary is { repr: string } {
  return summary !== null && typeof summary === 'object' && !Array.isArray(summary) && typeof (summary as { repr?: unknown }).repr === 'string';
}

export const VIEWS: ViewEntry[] = [
  { name: 'None', matches: (t, _r, s) => t[1] === 'NoneType' || (t[0] === 'builtin' && s === null && t[1] !== 'object'), view: NoneView },
  { name: 'scalar', matches: (t) => t[0] === 'builtin' && SCALARS.has(t[1]), view: ScalarView },
  { name: 'bytes', matches: (t) => t[0] === 'builtin' && t[1] === 'bytes', view: BytesView },
  { name: 'Union', matches: (t) => t[0] === 'typing' && t[1] === 'Union', view: UnionView },
  { name: 'list', matches: (t) => t[0] === 'typing' && (t[1] === 'list' || t[1] === 'set'), view: ListView },
  { name: 'tuple', matches: (t) => t[0] === 'typing' && t[1] === 'tuple', view: TupleView },
  { name: 'dict', matches: (t) => t[0] === 'typing' && t[1] === 'dict', view: DictView },
  {
    name: 'datetime',
    matches: (t) => t[1] === 'datetime' && (t[2].import_path === 'datetime' || t[0] === 'builtin'),
    view: DatetimeView,
  },
  { name: 'Enum', matches: (t, r, s) => typeof s === 'string' && inherits(r, t[1], 'Enum', 'enum'), view: EnumView },
  { name: 'dataclass', matches: (t, _r, s) => !isRepr(s) && (t[0] === 'dataclass' || hasValues(s)), view: DataclassView },
];

function hasValues(s: unknown): boolean {
  return s !== null && typeof s === 'object' && !Array.isArray(s) && 'values' in s && 'root_type' in s;
}

/** The view for a value of type `t` (the repr view when none claims it). */
export function viewFor(t: TypeTriple, registry: TypeRegistry, summary: unknown): ComponentType<ValueViewProps> {
  for (const v of VIEWS) if (v.matches(t, registry, summary)) return v.view;
  return ReprView;
}
