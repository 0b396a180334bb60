/**
 * The runs search's view state, as the URL holds it
 * (`/runs?search=&status=&tag=&pipeline=&root=1&cursor=&prev=`), and the
 * `GET /api/v1/runs` request it stands for.
 */
import { ROOT_RUNS, allOf, type ListRunsParams } from '../../api/runs';
import type { RunDelta, RunFilter } from '../../api/types';
import { STATUS_FILTERS, isStatusFilter, type StatusFilter } from '../../components/states';

export interface RunsQuery {
  search: string;
  status: StatusFilter | null;
  tag: string;
  pipeline: string;
  rootOnly: boolean;
  cursor: string | undefined;
}

export function readRunsQuery(p: URLSearchParams): RunsQuery {
  const status = p.get('status');
  return {
    search: p.get('search') ?? '',
    status: isStatusFilter(status) ? status : null,
    tag: p.get('tag') ?? '',
    pipeline: p.get('pipeline') ?? '',
    rootOnly: p.get('root') === '1',
    cursor: p.get('cursor') ?? undefined,
  };
}

export function runsFilter(q: RunsQuery): RunFilter | undefined {
  const conditions: RunFilter[] = [];
  if (q.rootOnly) conditions.push(ROOT_RUNS);
  if (q.pipeline !== '') conditions.push({ function_path: { eq: q.pipeline } });
  if (q.status !== null) conditions.push({ future_state: { in: STATUS_FILTERS[q.status].states } });
  if (q.tag !== '') conditions.push({ tags: { contains: q.tag } });
  return allOf(conditions);
}

export function runsParams(q: RunsQuery, limit: number): ListRunsParams {
  return { limit, filters: runsFilter(q), search: q.search === '' ? undefined : q.search, cursor: q.cursor };
}

/**
 * Whether a run announced by the feed belongs to the first page, as far as a
 * delta can tell: it has no tags or docstring, so under a tag filter it is
 * counted (and may turn out not to match), and a search looks at its name,
 * function path and id only.
 */
export function mayMatch(q: RunsQuery, d: RunDelta): boolean {
  if (q.rootOnly && d.parent_id !== null) return false;
  if (q.pipeline !== '' && d.function_path !== q.pipeline) return false;
  if (q.status !== null && !STATUS_FILTERS[q.status].states.includes(d.future_state)) return false;
  if (q.search !== '') {
    const s = q.search.toLowerCase();
    if (![d.name, d.function_path, d.id].some((f) => f.toLowerCase().includes(s))) return false;
  }
  return true;
}
