import { useEffect, useRef, type ReactElement } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import type { Run } from '../../api/types';
import { RelativeTime } from '../../components/RelativeTime';
import { StateChip } from '../../components/StateBadge';
import { Tags } from '../../components/Tags';
import { formatDuration } from '../../components/time';
import { successRate, useLatestRuns, usePipelineMetrics } from './usePipelines';
import { useInView } from './useInView';

/** `/pipeline/<function_path>`. */
export function pipelineHref(functionPath: string): string {
  return `/pipeline/${encodeURIComponent(functionPath)}`;
}

interface PipelineRowProps {
  /** The pipeline's newest root run, from the index. */
  run: Run;
  /** Changes when the feed says this pipeline changed: the row reads again. */
  version: number;
  /** Tells the page which root runs belong to this pipeline (for pipeline_status events). */
  onRuns: (functionPath: string, ids: string[]) => void;
}

/** One pipeline of the index: its name, counts, rates and last five runs. */
export function PipelineRow({ run, version, onRuns }: PipelineRowProps): ReactElement {
  const ref = useRef<HTMLTableRowElement>(null);
  const inView = useInView(ref);
  const fp = run.function_path;
  const latest = useLatestRuns(inView ? fp : null, 5, version);
  const metrics = usePipelineMetrics(inView ? run : null, version);
  const navigate = useNavigate();

  const recent = latest.data?.content ?? [run];
  const newest = recent[0] ?? run;
  useEffect(() => {
    if (latest.data !== null) onRuns(fp, latest.data.content.map((r) => r.id));
  }, [latest.data, fp, onRuns]);

  const m = metrics.data;
  const rate = m === null ? null : successRate(m);
  const avg = m?.avg_runtime_children[fp] ?? null;
  const failed = latest.error ?? metrics.error;

  return (
    <tr
      ref={ref}
      className="clickable"
      data-testid="pipeline-row"
      data-function-path={fp}
      onClick={(e) => {
        if ((e.target as HTMLElement).closest('a, button') === null) navigate(pipelineHref(fp));
      }}
    >
      <td>
        <Link to={pipelineHref(fp)} className="strong">
          {newest.name}
        </Link>
        <div className="mono small muted">{fp}</div>
      </td>
      <td>
        <Tags tags={newest.tags} />
      </td>
      <td className="num" data-testid="pipeline-run-count">
        {m === null ? '…' : m.total_count}
      </td>
      <td className="num nowrap">{m === null ? '…' : formatDuration(avg)}</td>
      <td className="num">{m === null ? '…' : rate === null ? '—' : `${Math.round(rate * 100)}%`}</td>
      <td className="nowrap">
        <RelativeTime time={newest.created_at} />
      </td>
      <td className="nowrap">
        {recent.map((r) => (
          <Link key={r.id} to={`/runs/${r.root_id}`} className="chip-link">
            <StateChip state={r.future_state} title={`${r.name}, ${r.created_at}`} />
          </Link>
        ))}
        {failed !== null && (
          <span className="form-error small" title={failed.message}>
            {' '}
            ⚠
          </span>
        )}
      </td>
    </tr>
  );
}
