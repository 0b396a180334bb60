import { useCallback, useRef, useState, type ReactElement } from 'react';
import { useLiveEvents, type LiveEvent } from '../../api/LiveEvents';
import { ErrorBoundary } from '../../app/ErrorBoundary';
import { PipelineRow } from './PipelineRow';
import { usePipelineIndex } from './usePipelines';
import './pipelines.css';

/** What a frame of feed events means for the index. */
interface Refresh {
  all: boolean;
  index: boolean;
  pipelines: Set<string>;
}

/**
 * Reads a frame of events against what the page knows: root runs of known
 * pipelines refresh their rows; an unknown root run or pipeline status
 * (a new pipeline run) reads the index again.
 */
export function planRefresh(events: LiveEvent[], rootToPipeline: Map<string, string>): Refresh {
  const r: Refresh = { all: false, index: false, pipelines: new Set() };
  for (const e of events) {
    if (e.name === 'runs') {
      if ('reload' in e.payload) r.all = true;
      else
        for (const d of e.payload.runs) {
          if (d.parent_id !== null) continue;
          if (!rootToPipeline.has(d.id)) r.index = true;
          rootToPipeline.set(d.id, d.function_path);
          r.pipelines.add(d.function_path);
        }
    } else if (e.name === 'pipeline_status') {
      if ('reload' in e.payload) r.all = true;
      else {
        const fp = rootToPipeline.get(e.payload.root_id);
        if (fp === undefined) r.index = true;
        else r.pipelines.add(fp);
      }
    }
  }
  return r;
}

/** `/pipelines`: root runs grouped by pipeline (API.md §7), kept current by the feed. */
export function PipelinesPage(): ReactElement {
  const index = usePipelineIndex();
  const [versions, setVersions] = useState<ReadonlyMap<string, number>>(new Map());
  const rootToPipeline = useRef(new Map<string, string>());

  for (const run of index.data?.content ?? []) rootToPipeline.current.set(run.id, run.function_path);

  const onRuns = useCallback((fp: string, ids: string[]) => {
    for (const id of ids) rootToPipeline.current.set(id, fp);
  }, []);

  useLiveEvents((events) => {
    const plan = planRefresh(events, rootToPipeline.current);
    if (plan.all || plan.index) index.reload();
    const bump = plan.all ? new Set(index.data?.content.map((r) => r.function_path) ?? []) : plan.pipelines;
    if (bump.size > 0)
      setVersions((v) => {
        const next = new Map(v);
        for (const fp of bump) next.set(fp, (next.get(fp) ?? 0) + 1);
        return next;
      });
  });

  const pipelines = index.data?.content ?? [];
  return (
    <section className="page">
      <header className="page-header">
        <h1>Pipelines</h1>
        <span className="muted">{index.data !== null && `${pipelines.length} pipeline${pipelines.length === 1 ? '' : 's'}`}</span>
      </header>
      {index.error !== null && (
        <div className="error-box" role="alert">
          Could not read the pipelines: {index.error.message}{' '}
          <button type="button" onClick={index.reload}>
            Retry
          </button>
        </div>
      )}
      <ErrorBoundary region="pipelines table">
        <table className="table" data-testid="pipelines-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Tags</th>
              <th className="num">Runs</th>
              <th className="num">Avg. runtime</th>
              <th className="num">Success</th>
              <th>Last ran</th>
              <th>Last 5 runs</th>
            </tr>
          </thead>
          <tbody>
            {index.data === null && index.loading && (
              <tr>
                <td colSpan={7} className="muted empty">
                  Loading…
                </td>
              </tr>
            )}
            {index.data !== null && pipelines.length === 0 && (
              <tr>
                <td colSpan={7} className="muted empty">
                  No pipeline has run yet. Run one with LocalRunner (<code>make demo</code> runs
                  examples/first_pipeline.py) and it shows here as it starts.
                </td>
              </tr>
            )}
            {pipelines.map((run) => (
              <PipelineRow
                key={run.function_path}
                run={run}
                version={versions.get(run.function_path) ?? 0}
                onRuns={onRuns}
              />
            ))}
          </tbody>
        </table>
      </ErrorBoundary>
    </section>
  );
}
