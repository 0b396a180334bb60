import { useCallback, useEffect, useState, type ReactElement } from 'react';
import Markdown from 'react-markdown';
import { Link, useNavigate } from 'react-router-dom';
import type { EventHub } from '../../api/eventHub';
import { ApiError } from '../../api/http';
import type { ExceptionMetadata, FutureState, PipelineStatus, Run } from '../../api/types';
import { CopyButton } from '../../components/CopyButton';
import { StateBadge } from '../../components/StateBadge';
import { Tags } from '../../components/Tags';
import { formatAbsoluteTime, formatDuration, runDurationSeconds } from '../../components/time';
import { cancelPipeline, fetchResolution, fetchRun, rerunFrom } from './runApi';
import { useFetched } from './useFetched';

interface RunPanelProps {
  rootId: string;
  runId: string;
  /** The run's state as the live graph knows it: a change reads the run again. */
  liveState: FutureState | null;
  hub: EventHub;
}

const PIPELINE_DONE: PipelineStatus[] = ['COMPLETE', 'FAILED', 'CANCELED'];

/**
 * The pipeline run's status, live on `pipeline_status` events. It is read again when the
 * page's stream (re)starts: the stream starts where the graph was read, which may be after
 * the first read of the status, and a change in between would otherwise never show.
 */
export function usePipelineStatus(rootId: string, hub: EventHub): { status: PipelineStatus | null; error: ApiError | null; set(s: PipelineStatus): void } {
  const res = useFetched(rootId, (signal) => fetchResolution(rootId, signal));
  const [live, setLive] = useState<PipelineStatus | null>(null);
  const { reload } = res;
  useEffect(() => {
    const offStatus = hub.on('pipeline_status', (p) => {
      if ('reload' in p) reload();
      else if (p.root_id === rootId) setLive(p.status);
    });
    const offStart = hub.on('start', () => {
      setLive(null);
      reload();
    });
    return () => {
      offStatus();
      offStart();
    };
  }, [hub, rootId, reload]);
  return { status: live ?? res.data?.status ?? null, error: res.error, set: setLive };
}

/** The selected run: name, state, function, times, tags, docstring, exception, actions. */
export function RunPanel({ rootId, runId, liveState, hub }: RunPanelProps): ReactElement {
  const run = useFetched(runId, (signal) => fetchRun(runId, signal));
  const pipeline = usePipelineStatus(rootId, hub);
  const navigate = useNavigate();
  const [busy, setBusy] = useState<'cancel' | 'rerun' | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const { reload } = run;
  const loadedState = run.data?.future_state;
  useEffect(() => {
    if (liveState !== null && loadedState !== undefined && liveState !== loadedState) reload();
  }, [liveState, loadedState, reload]);
  useEffect(() => setActionError(null), [runId]);

  const onCancel = useCallback(async (): Promise<void> => {
    setBusy('cancel');
    setActionError(null);
    try {
      const r = await cancelPipeline(rootId);
      pipeline.set(r.status);
    } catch (e) {
      setActionError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(null);
    }
  }, [rootId, pipeline]);

  const onRerun = useCallback(async (): Promise<void> => {
    setBusy('rerun');
    setActionError(null);
    try {
      const newRoot = await rerunFrom(rootId, runId);
      navigate(`/runs/${encodeURIComponent(newRoot)}`);
    } catch (e) {
      setActionError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(null);
    }
  }, [rootId, runId, navigate]);

  const r = run.data;
  const state = liveState ?? r?.future_state ?? null;
  const pipelineDone = pipeline.status !== null && PIPELINE_DONE.includes(pipeline.status);
  return (
    <div className="run-panel" data-testid="run-panel" data-run-id={runId}>
      <div className="pipeline-line">
        Pipeline run <code>{rootId.slice(0, 12)}</code>:{' '}
        <span data-testid="pipeline-status" data-status={pipeline.status ?? ''}>
          {pipeline.status ?? (pipeline.error !== null ? 'unknown' : '…')}
        </span>
        <button type="button" data-testid="cancel-run" disabled={pipelineDone || busy !== null} onClick={() => void onCancel()}>
          {busy === 'cancel' ? 'Cancelling…' : 'Cancel'}
        </button>
      </div>
      {run.error !== null && (
        <div className="error-box" role="alert">
          {run.error.message}
        </div>
      )}
      {r === null ? (
        run.error === null && <p className="muted">Loading the run…</p>
      ) : (
        <>
          <div className="run-title">
            <h2 data-testid="run-name">{r.name}</h2>
            {state !== null && <StateBadge state={state} testId="run-state" />}
          </div>
          <div className="run-function">
            <code>{r.function_path}</code>
          </div>
          <div className="run-id">
            <code>{r.id}</code> <CopyButton text={r.id} label="Copy run id" testId="copy-id" />
          </div>
          {r.original_run_id !== null && (
            <p className="run-original">
              Reused the cached result of{' '}
              <Link to={`/runs/${encodeURIComponent(r.root_id)}#run=${encodeURIComponent(r.original_run_id)}`} data-testid="original-run">
                run {r.original_run_id.slice(0, 12)}
              </Link>
            </p>
          )}
          <RunTimes run={r} />
          <Tags tags={r.tags} />
          {r.description !== null && r.description.trim() !== '' && (
            <div className="run-docstring" data-testid="run-docstring">
              <Markdown>{r.description}</Markdown>
            </div>
          )}
          <RunException run={r} />
          <div className="run-actions">
            <button type="button" data-testid="rerun-from-here" disabled={busy !== null} onClick={() => void onRerun()}>
              {busy === 'rerun' ? 'Starting…' : 'Rerun from here'}
            </button>
          </div>
        </>
      )}
      {actionError !== null && (
        <div className="error-box" role="alert" data-testid="action-error">
          {actionError}
        </div>
      )}
    </div>
  );
}

function RunTimes({ run }: { run: Run }): ReactElement {
  const rows: [string, string | null][] = [
    ['Created', run.created_at],
    ['Started', run.started_at],
    ['Ended', run.ended_at],
    ['Resolved', run.resolved_at],
    ['Failed', run.failed_at],
  ];
  return (
    <dl className="run-times">
      {rows
        .filter(([, t]) => t !== null)
        .map(([label, t]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{formatAbsoluteTime(t)}</dd>
          </div>
        ))}
      <div>
        <dt>Duration</dt>
        <dd data-testid="run-duration">{formatDuration(runDurationSeconds(run))}</dd>
      </div>
    </dl>
  );
}

/** Splits Sematic's exception repr into its message and the traceback above it. */
export function splitException(e: ExceptionMetadata): { type: string; message: string; traceback: string | null } {
  const type = e.module === 'builtins' || e.module === '' ? e.name : `${e.module}.${e.name}`;
  const repr = e.repr.replace(/\s+$/, '');
  if (!repr.startsWith('Traceback')) return { type, message: repr, traceback: null };
  const lines = repr.split('\n');
  const last = lines[lines.length - 1];
  const prefix = `${e.name}: `;
  const message = last.startsWith(prefix) ? last.slice(prefix.length) : last;
  return { type, message, traceback: repr };
}

function RunException({ run }: { run: Run }): ReactElement | null {
  const e = run.exception_metadata_json ?? run.external_exception_metadata_json;
  if (e === null) return null;
  const { type, message, traceback } = splitException(e);
  return (
    <div className="run-exception" data-testid="run-exception" role="alert">
      <div>
        <strong className="exception-type">{type}</strong>: <span className="exception-message">{message}</span>
      </div>
      {traceback !== null && (
        <details open>
          <summary>Traceback</summary>
          <pre className="exception-traceback">{traceback}</pre>
        </details>
      )}
    </div>
  );
}
