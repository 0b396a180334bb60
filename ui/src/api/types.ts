/**
 * The server's JSON, as Sematic 0.41's API writes it (docs/server.md). The
 * shapes are checked against a live server by tests/browser (api contract).
 */

/** Sematic's future states, as runs carry them in `future_state`. */
export type FutureState =
  | 'CREATED'
  | 'SCHEDULED'
  | 'RAN'
  | 'RESOLVED'
  | 'FAILED'
  | 'NESTED_FAILED'
  | 'CANCELED'
  | 'RETRYING';

/** A pipeline run's status (`pipeline_status` events). */
export type PipelineStatus = 'CREATED' | 'SCHEDULED' | 'RUNNING' | 'COMPLETE' | 'FAILED' | 'CANCELED';

/** An ISO-8601 time in UTC (`2026-11-23T03:11:31.814824+00:00`). */
export type IsoTime = string;

export interface Run {
  id: string;
  root_id: string;
  parent_id: string | null;
  nested_future_id: string | null;
  original_run_id: string | null;
  name: string;
  function_path: string;
  description: string | null;
  source_code: string | null;
  future_state: FutureState;
  tags: string[];
  cache_key: string | null;
  exception_metadata_json: ExceptionMetadata | null;
  external_exception_metadata_json: ExceptionMetadata | null;
  resource_requirements_json: unknown;
  container_image_uri: string | null;
  created_at: IsoTime;
  updated_at: IsoTime;
  started_at: IsoTime | null;
  ended_at: IsoTime | null;
  resolved_at: IsoTime | null;
  failed_at: IsoTime | null;
  user_id: string | null;
  user: User | null;
  organization_id: string | null;
}

export interface ExceptionMetadata {
  repr: string;
  name: string;
  module: string;
  ancestors: string[];
}

export interface User {
  id: string;
  first_name: string | null;
  last_name: string | null;
  avatar_url: string | null;
  created_at: IsoTime;
  updated_at: IsoTime;
}

/** An edge carries an artifact from a source run's output to a destination run's input. */
export interface Edge {
  id: string;
  source_run_id: string | null;
  source_name: string | null;
  destination_run_id: string | null;
  destination_name: string | null;
  artifact_id: string | null;
  parent_id: string | null;
  created_at: IsoTime;
  updated_at: IsoTime;
}

/** Sematic's type serialization: `{"type": [kind, name, params], "registry": {...}}`. */
export interface TypeSerialization {
  type: [string, string, Record<string, unknown>];
  registry?: Record<string, unknown>;
}

export interface Artifact {
  id: string;
  type_serialization: TypeSerialization;
  /** Sematic's summary of the value, as its type's serializer wrote it. */
  json_summary: unknown;
  created_at: IsoTime;
  updated_at: IsoTime;
}

/** `GET /api/v1/runs/:id/graph`. */
export interface RunGraph {
  run_id: string;
  runs: Run[];
  edges: Edge[];
  artifacts: Artifact[];
}

/** `GET /api/v1/runs`: one page. */
export interface RunsPage {
  content: Run[];
  limit: number;
  next_cursor: string | null;
  after_cursor_count: number;
  current_page_url: string;
  next_page_url: string | null;
}

export interface Note {
  id: string;
  note: string;
  run_id: string;
  root_id: string;
  user_id: string | null;
  user: User | null;
  created_at: IsoTime;
  updated_at: IsoTime;
}

/** A run as the `runs` event carries it: the fields that change live. */
export interface RunDelta {
  id: string;
  root_id: string;
  parent_id: string | null;
  original_run_id: string | null;
  name: string;
  function_path: string;
  future_state: FutureState;
  created_at: IsoTime;
  updated_at: IsoTime;
  started_at: IsoTime | null;
  ended_at: IsoTime | null;
  resolved_at: IsoTime | null;
  failed_at: IsoTime | null;
}

/** The events of `GET /api/v1/events`, by name (docs/server.md "Live events"). */
export interface EventPayloads {
  start: { after: number };
  runs: { runs: RunDelta[] } | { reload: true };
  edges: { root_ids: string[] } | { reload: true };
  pipeline_status:
    | { root_id: string; status: PipelineStatus; created_at: IsoTime; updated_at: IsoTime; ended_at: IsoTime | null }
    | { reload: true };
  note: { id: string; run_id: string; root_id: string; deleted: boolean; note: Note | null };
  metrics: { names: string[] } | { reload: true };
  logs: {
    run_id: string;
    root_id: string;
    lines: { id: number; stream: string; ts: IsoTime; text: string }[];
    more: boolean;
  };
}

export type EventName = keyof EventPayloads;

/** `GET /api/v1/runs/:id/metrics`: the pipeline metrics of the run's function. */
export interface RunMetrics {
  /** Per function path, the average `resolved_at - started_at` in seconds of its resolved runs. */
  avg_runtime_children: Record<string, number | null>;
  count_by_state: Partial<Record<FutureState, number>>;
  total_count: number;
}

/** `GET /authenticate`. */
export interface AuthenticateInfo {
  authenticate: boolean;
  providers: Record<string, unknown>;
}

/** A condition of `GET /api/v1/runs?filters=` (docs/server.md "The read API"). */
export type RunFilter =
  | { AND: RunFilter[] }
  | { OR: RunFilter[] }
  | { [column: string]: { eq: string | null } | { in: string[] } | { contains: string } };
