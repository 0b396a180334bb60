import type { ReactElement } from 'react';
import type { TypeRegistry, TypeTriple } from './typeSerialization';
import { viewFor } from './viewRegistry';

export interface ValueViewProps {
  /** The value's type. */
  type: TypeTriple;
  /** The registry of the artifact's type serialization. */
  registry: TypeRegistry;
  /** The type's summary of the value (`json_summary`, or a part of it). */
  summary: unknown;
  /** Nesting depth: deep values start collapsed. */
  depth: number;
}

/** A value of any type: the view registered for its type renders it. */
export function ValueView(props: ValueViewProps): ReactElement {
  const View = viewFor(props.type, props.registry, props.summary);
  return <View {...props} />;
}
