/** `GET /api/v1/runs/:id/logs` (docs/server.md "Logs"). */
import { apiGet, query } from '../../api/http';

export interface LogsPage {
  can_continue_backward: boolean;
  can_continue_forward: boolean;
  forward_cursor_token: string | null;
  reverse_cursor_token: string | null;
  line_ids: number[];
  lines: string[];
  log_info_message: string | null;
}

export interface LogsQuery {
  maxLines?: number;
  filter?: string;
  reverse?: boolean;
  forwardCursor?: string;
  reverseCursor?: string;
}

export async function fetchLogs(runId: string, q: LogsQuery, signal?: AbortSignal): Promise<LogsPage> {
  const path =
    `/api/v1/runs/${encodeURIComponent(runId)}/logs` +
    query({
      max_lines: q.maxLines ?? 200,
      filter_string: q.filter === undefined || q.filter === '' ? undefined : q.filter,
      reverse: q.reverse === true ? 'true' : undefined,
      forward_cursor_token: q.forwardCursor,
      reverse_cursor_token: q.reverseCursor,
    });
  return (await apiGet<{ content: LogsPage }>(path, signal)).content;
}
