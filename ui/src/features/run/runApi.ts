/** The run page's reads and actions (docs/server.md), one function each. */
import { apiGet, apiPost, apiPut } from '../../api/http';
import type { PipelineStatus, Run } from '../../api/types';

export interface Resolution {
  root_id: string;
  status: PipelineStatus;
  kind?: string;
}

export async function fetchRun(id: string, signal: AbortSignal): Promise<Run> {
  return (await apiGet<{ content: Run }>(`/api/v1/runs/${encodeURIComponent(id)}`, signal)).content;
}

export async function fetchResolution(rootId: string, signal: AbortSignal): Promise<Resolution> {
  return (await apiGet<{ content: Resolution }>(`/api/v1/resolutions/${encodeURIComponent(rootId)}`, signal)).content;
}

export async function cancelPipeline(rootId: string): Promise<Resolution> {
  return (await apiPut<{ content: Resolution }>(`/api/v1/resolutions/${encodeURIComponent(rootId)}/cancel`, {})).content;
}

/** Starts a new pipeline run reusing what came before `runId`; its root id. */
export async function rerunFrom(rootId: string, runId: string): Promise<string> {
  const r = await apiPost<{ content: { root_id: string } }>(`/api/v1/resolutions/${encodeURIComponent(rootId)}/rerun`, {
    rerun_from: runId,
  });
  return r.content.root_id;
}
