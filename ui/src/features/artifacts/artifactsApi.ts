/** The edges into or out of a run, and their artifacts (docs/server.md "The read API"). */
import { apiGet, query } from '../../api/http';
import type { Artifact, Edge } from '../../api/types';

export interface NamedArtifact {
  /** The parameter (inputs) or output name. */
  name: string;
  artifactId: string;
  artifact: Artifact;
}

export type Direction = 'inputs' | 'outputs';

export async function fetchRunArtifacts(runId: string, direction: Direction, signal: AbortSignal): Promise<NamedArtifact[]> {
  const column = direction === 'inputs' ? 'destination_run_id' : 'source_run_id';
  const edges = (
    await apiGet<{ content: Edge[] }>(
      // Oldest first: a run's input edges are made in parameter order, with increasing ids.
      '/api/v1/edges' + query({ filters: JSON.stringify({ [column]: { eq: runId } }), limit: -1, order: 'asc' }),
      signal,
    )
  ).content;
  // Outputs reach several destinations through one artifact: one entry per name.
  const byName = new Map<string, string>();
  for (const e of edges) {
    if (e.artifact_id === null) continue;
    const name = direction === 'inputs' ? (e.destination_name ?? 'input') : (e.source_name ?? 'output');
    if (!byName.has(name)) byName.set(name, e.artifact_id);
  }
  const entries = [...byName.entries()];
  const artifacts = await Promise.all(
    entries.map(([, id]) => apiGet<{ content: Artifact }>(`/api/v1/artifacts/${encodeURIComponent(id)}`, signal)),
  );
  return entries.map(([name, artifactId], i) => ({ name, artifactId, artifact: artifacts[i].content }));
}
