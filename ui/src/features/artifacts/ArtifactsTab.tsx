import type { ReactElement } from 'react';
import type { FutureState } from '../../api/types';
import { useFetched } from '../run/useFetched';
import { ArtifactView } from './ArtifactView';
import { fetchRunArtifacts, type Direction } from './artifactsApi';

interface ArtifactsTabProps {
  runId: string;
  direction: Direction;
  /** The run's live state: outputs appear when it resolves, so a change reads them again. */
  liveState: FutureState | null;
}

/** The Inputs or Outputs tab: each value the run received or produced. */
export function ArtifactsTab({ runId, direction, liveState }: ArtifactsTabProps): ReactElement {
  const res = useFetched(`${runId}:${direction}:${liveState ?? ''}`, (signal) => fetchRunArtifacts(runId, direction, signal));
  if (res.error !== null) return <div className="error-box" role="alert">{res.error.message}</div>;
  if (res.data === null) return <p className="muted">Loading…</p>;
  if (res.data.length === 0)
    return <p className="muted">{direction === 'inputs' ? 'This run has no inputs.' : 'No outputs yet.'}</p>;
  return (
    <div className="artifacts">
      {res.data.map((a) => (
        <ArtifactView key={a.name} name={a.name} artifact={a.artifact} />
      ))}
    </div>
  );
}
