import { useCallback, useEffect, useState, type ReactElement } from 'react';
import { useSearchParams } from 'react-router-dom';
import { ROOT_RUNS, listRuns, runsPath } from '../../api/runs';
import type { RunDelta, RunsPage as RunsPageData } from '../../api/types';
import { useLiveRuns } from '../../api/useLiveRuns';
import { useResource, type Resource } from '../../api/useResource';
import { ErrorBoundary } from '../../app/ErrorBoundary';
import { PagerBar, RunsTable } from '../../components/RunsTable';
import { STATUS_FILTERS, type StatusFilter } from '../../components/states';
import { usePager, withoutPaging } from '../../components/usePager';
import { mayMatch, readRunsQuery, runsParams } from './runsQuery';
import './runs.css';

const PAGE_SIZE = 25;
const SEARCH_DELAY_MS = 250;

/** The pipelines for the pipeline filter: the newest root run of each. */
function usePipelineChoices(): Resource<RunsPageData> {
  const params = { groupBy: 'function_path', filters: ROOT_RUNS, limit: -1 };
  return useResource(runsPath(params), (signal) => listRuns(params, signal));
}

/**
 * `/runs`: every run, searchable and filtered, paged by keyset cursor;
 * the filters and the page live in the URL, so a view can be linked to.
 */
export function RunsPage(): ReactElement {
  const [params, setParams] = useSearchParams();
  const q = readRunsQuery(params);
  const pager = usePager();
  const request = runsParams(q, PAGE_SIZE);
  const page = useResource(runsPath(request), (signal) => listRuns(request, signal));
  const choices = usePipelineChoices();

  const update = useCallback(
    (name: string, value: string | null, replace = false) => {
      setParams(
        (p) => {
          const next = withoutPaging(p);
          if (value === null || value === '') next.delete(name);
          else next.set(name, value);
          return next;
        },
        { replace },
      );
    },
    [setParams],
  );

  // The search box types freely; the URL (and the request) follow after a pause.
  const [search, setSearch] = useState(q.search);
  useEffect(() => setSearch(q.search), [q.search]);
  useEffect(() => {
    if (search === q.search) return undefined;
    const t = window.setTimeout(() => update('search', search, true), SEARCH_DELAY_MS);
    return () => window.clearTimeout(t);
  }, [search, q.search, update]);

  const [tag, setTag] = useState(q.tag);
  useEffect(() => setTag(q.tag), [q.tag]);

  const isNew = (d: RunDelta): boolean => mayMatch(q, d);
  const runs = page.data?.content ?? null;
  const live = useLiveRuns(runs, isNew);

  const pipelines = choices.data?.content ?? [];
  const knownPipeline = q.pipeline === '' || pipelines.some((r) => r.function_path === q.pipeline);

  return (
    <section className="page">
      <header className="page-header">
        <h1>Runs</h1>
      </header>
      <form className="filters" onSubmit={(e) => e.preventDefault()} role="search">
        <input
          type="search"
          data-testid="runs-search"
          placeholder="Search name, function, id, tags…"
          aria-label="Search runs"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') update('search', search, true);
          }}
        />
        <select
          data-testid="status-filter"
          aria-label="Status"
          value={q.status ?? ''}
          onChange={(e) => update('status', e.target.value)}
        >
          <option value="">Any status</option>
          {(Object.keys(STATUS_FILTERS) as StatusFilter[]).map((s) => (
            <option key={s} value={s}>
              {STATUS_FILTERS[s].label}
            </option>
          ))}
        </select>
        <input
          type="text"
          data-testid="tag-filter"
          placeholder="Tag"
          aria-label="Tag"
          value={tag}
          onChange={(e) => setTag(e.target.value)}
          onBlur={() => {
            if (tag !== q.tag) update('tag', tag.trim());
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter') update('tag', tag.trim());
          }}
        />
        <select
          data-testid="pipeline-filter"
          aria-label="Pipeline"
          value={q.pipeline}
          onChange={(e) => update('pipeline', e.target.value)}
        >
          <option value="">Any pipeline</option>
          {!knownPipeline && <option value={q.pipeline}>{q.pipeline}</option>}
          {pipelines.map((r) => (
            <option key={r.function_path} value={r.function_path}>
              {r.name} ({r.function_path})
            </option>
          ))}
        </select>
        <label className="checkbox">
          <input
            type="checkbox"
            data-testid="root-only"
            checked={q.rootOnly}
            onChange={(e) => update('root', e.target.checked ? '1' : null)}
          />
          Root runs only
        </label>
        {page.loading && <span className="muted small">Loading…</span>}
      </form>
      {page.error !== null && (
        <div className="error-box" role="alert">
          Could not read the runs: {page.error.message}
        </div>
      )}
      {live.newRuns > 0 && pager.cursor === undefined && (
        <button type="button" className="new-runs" data-testid="new-runs" onClick={page.reload}>
          {live.newRuns} new run{live.newRuns === 1 ? '' : 's'} since this page was read: show
        </button>
      )}
      <ErrorBoundary region="runs table">
        {runs !== null && (
          <RunsTable
            runs={live.rows}
            columns={['id', 'submitted', 'name', 'function', 'tags', 'status']}
            href={(r) => `/runs/${r.root_id}#run=${r.id}`}
            empty="No runs match these filters."
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
