import { useCallback, type ReactElement } from 'react';
import { Link, useParams } from 'react-router-dom';
import { listRuns, runsPath } from '../../api/runs';
import type { Run, RunDelta } from '../../api/types';
import { useLiveEvents } from '../../api/LiveEvents';
import { useLiveRuns } from '../../api/useLiveRuns';
import { useResource } from '../../api/useResource';
import { ErrorBoundary } from '../../app/ErrorBoundary';
import { PagerBar, RunsTable } from '../../components/RunsTable';
import { formatDuration } from '../../components/time';
import { usePager } from '../../components/usePager';
import { pipelineFilter, successRate, usePipelineMetrics } from './usePipelines';
import './pipelines.css';

const PAGE_SIZE = 25;

/** `/pipeline/:functionPath`: one pipeline's runs, newest first, paged, kept current. */
export function PipelinePage(): ReactElement {
  const { functionPath = '' } = useParams();
  const pager = usePager();
  const params = { filters: pipelineFilter(functionPath), limit: PAGE_SIZE, cursor: pager.cursor };
  const page = useResource(runsPath(params), (signal) => listRuns(params, signal));
  const runs = page.data?.content ?? null;
  const newest: Run | null = runs?.[0] ?? null;
  const metrics = usePipelineMetrics(newest, 0);

  const isNew = useCallback(
    (d: RunDelta) => d.parent_id === null && d.function_path === functionPath,
    [functionPath],
  );
  const live = useLiveRuns(runs, isNew);
  // Counts change with every run of this pipeline that starts or ends.
  useLiveEvents((events) => {
    if (events.some((e) => e.name === 'runs' && 'runs' in e.payload && e.payload.runs.some(isNew))) metrics.reload();
  });

  const m = metrics.data;
  const rate = m === null ? null : successRate(m);
  return (
    <section className="page">
      <header className="page-header">
        <div>
          <div className="breadcrumb">
            <Link to="/pipelines">Pipelines</Link> /
          </div>
          <h1>{newest?.name ?? functionPath.split('.').pop()}</h1>
          <div className="mono muted">{functionPath}</div>
        </div>
        {m !== null && (
          <dl className="stats" data-testid="pipeline-metrics">
            <div>
              <dt>Runs</dt>
              <dd>{m.total_count}</dd>
            </div>
            <div>
              <dt>Success</dt>
              <dd>{rate === null ? '—' : `${Math.round(rate * 100)}%`}</dd>
            </div>
            <div>
              <dt>Avg. runtime</dt>
              <dd>{formatDuration(m.avg_runtime_children[functionPath] ?? null)}</dd>
            </div>
          </dl>
        )}
      </header>
      {page.error !== null && (
        <div className="error-box" role="alert">
          Could not read the runs of {functionPath}: {page.error.message}
        </div>
      )}
      {live.newRuns > 0 && pager.cursor === undefined && (
        <button type="button" className="new-runs" onClick={page.reload}>
          {live.newRuns} new run{live.newRuns === 1 ? '' : 's'}: show
        </button>
      )}
      <ErrorBoundary region="runs table">
        {runs === null ? (
          page.loading && <p className="muted">Loading…</p>
        ) : (
          <RunsTable
            runs={live.rows}
            columns={['id', 'submitted', 'name', 'tags', 'duration', 'status']}
            href={(r) => `/runs/${r.root_id}`}
            empty="No runs of this pipeline."
          />
        )}
      </ErrorBoundary>
      <PagerBar
        pageNumber={pager.pageNumber}
        hasPrevious={pager.hasPrevious}
        nextCursor={page.data?.next_cursor}
        onPrevious={pager.previous}
        onNext={pager.next}
        remaining={page.data?.after_cursor_count}
        pageSize={PAGE_SIZE}
      />
    </section>
  );
}
