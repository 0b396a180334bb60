/**
 * The read API's calls for runs and pipelines, typed; every request goes
 * through the one client of http.ts.
 */
import { apiGet, query } from './http';
import type { AuthenticateInfo, RunFilter, RunMetrics, RunsPage } from './types';

export interface ListRunsParams {
  /** Page size (20 by default on the server). */
  limit?: number;
  filters?: RunFilter;
  /** Case-insensitive substring of name, function path, docstring, id or tags. */
  search?: string;
  /** Keep the newest run of each value of this column. */
  groupBy?: string;
  /** The previous page's `next_cursor`. */
  cursor?: string;
  order?: 'asc' | 'desc';
}

/** Path and query of `GET /api/v1/runs` for these parameters; empty ones are left out. */
export function runsPath(p: ListRunsParams): string {
  return (
    '/api/v1/runs' +
    query({
      limit: p.limit,
      order: p.order,
      filters: p.filters === undefined ? undefined : JSON.stringify(p.filters),
      search: p.search === undefined || p.search === '' ? undefined : p.search,
      group_by: p.groupBy,
      cursor: p.cursor === undefined || p.cursor === '' ? undefined : p.cursor,
    })
  );
}

export function listRuns(p: ListRunsParams, signal?: AbortSignal): Promise<RunsPage> {
  return apiGet<RunsPage>(runsPath(p), signal);
}

export function runMetricsPath(runId: string): string {
  return `/api/v1/runs/${encodeURIComponent(runId)}/metrics`;
}

export async function getRunMetrics(runId: string, signal?: AbortSignal): Promise<RunMetrics> {
  return (await apiGet<{ content: RunMetrics }>(runMetricsPath(runId), signal)).content;
}

export function getAuthenticate(signal?: AbortSignal): Promise<AuthenticateInfo> {
  return apiGet<AuthenticateInfo>('/authenticate', signal);
}

/** AND of the conditions given; undefined when there are none. */
export function allOf(conditions: RunFilter[]): RunFilter | undefined {
  if (conditions.length === 0) return undefined;
  if (conditions.length === 1) return conditions[0];
  return { AND: conditions };
}

/** Root runs only: `{"parent_id": {"eq": null}}`. */
export const ROOT_RUNS: RunFilter = { parent_id: { eq: null } };
