import type { ReactElement } from 'react';
import type { Artifact } from '../../api/types';
import { CopyButton } from '../../components/CopyButton';
import { ValueView } from './ValueView';
import { typeName, unwrap, type TypeRegistry } from './typeSerialization';

/** One input or output: its name, type, and value by the view of its type. */
export function ArtifactView({ name, artifact }: { name: string; artifact: Artifact }): ReactElement {
  const type = unwrap(artifact.type_serialization);
  const registry = (artifact.type_serialization.registry ?? {}) as TypeRegistry;
  return (
    <section className="artifact" data-testid="artifact-view" data-name={name} data-artifact-id={artifact.id}>
      <header className="artifact-head">
        <strong>{name}</strong> <code className="muted">{typeName(type)}</code>
        <CopyButton text={artifact.id} label="Copy artifact id" testId="copy-artifact-id" />
      </header>
      <div className="artifact-body">
        <ValueView type={type} registry={registry} summary={artifact.json_summary} depth={0} />
      </div>
    </section>
  );
}
