import type { ReactElement } from 'react';
import { fetchRun } from './runApi';
import { useFetched } from './useFetched';

/** The run's function source, as the runner recorded it. */
export function SourceTab({ runId }: { runId: string }): ReactElement {
  const run = useFetched(runId, (signal) => fetchRun(runId, signal));
  if (run.error !== null) return <div className="error-box" role="alert">{run.error.message}</div>;
  if (run.data === null) return <p className="muted">Loading…</p>;
  if (run.data.source_code === null || run.data.source_code === '') return <p className="muted">No source was recorded for this run.</p>;
  return (
    <pre className="source-code" data-testid="source-code">
      <code>{run.data.source_code}</code>
    </pre>
  );
}
