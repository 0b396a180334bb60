/** The pipelines index's resources: one hook each (STYLE rule 60). */
import { ROOT_RUNS, allOf, getRunMetrics, listRuns, runMetricsPath, runsPath } from '../../api/runs';
import type { Run, RunFilter, RunMetrics, RunsPage } from '../../api/types';
import { useResource, type Resource } from '../../api/useResource';

/** The newest root run of each pipeline (`group_by=function_path`). */
export function usePipelineIndex(): Resource<RunsPage> {
  const params = { groupBy: 'function_path', filters: ROOT_RUNS, limit: -1 };
  return useResource(runsPath(params), (signal) => listRuns(params, signal));
}

/** Root runs of one pipeline. */
export function pipelineFilter(functionPath: string): RunFilter {
  return allOf([ROOT_RUNS, { function_path: { eq: functionPath } }]) as RunFilter;
}

/** A pipeline's last `limit` runs, newest first; `version` changes read them again. */
export function useLatestRuns(functionPath: string | null, limit: number, version: number): Resource<RunsPage> {
  const params = functionPath === null ? null : { filters: pipelineFilter(functionPath), limit };
  return useResource(params === null ? null : `${runsPath(params)}#${version}`, (signal) =>
    listRuns(params ?? {}, signal),
  );
}

/** The metrics of the pipeline of `run` (counts by state, average runtime). */
export function usePipelineMetrics(run: Run | null, version: number): Resource<RunMetrics> {
  const id = run?.id ?? null;
  return useResource(id === null ? null : `${runMetricsPath(id)}#${version}`, (signal) =>
    getRunMetrics(id ?? '', signal),
  );
}

/** Resolved among finished runs (canceled and running ones left out, as Sematic counts), or null. */
export function successRate(m: RunMetrics): number | null {
  const ok = m.count_by_state.RESOLVED ?? 0;
  const failed = (m.count_by_state.FAILED ?? 0) + (m.count_by_state.NESTED_FAILED ?? 0);
  return ok + failed === 0 ? null : ok / (ok + failed);
}
