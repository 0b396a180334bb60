/**
 * Helpers of the component tests (not shipped: nothing in the app imports
 * this): a fetch that answers from a function and records the requests, runs
 * to answer with, and a change feed the test drives.
 */
import type { Subscribe } from './LiveEvents';
import type { EventHandler } from './events';
import type { EventName, EventPayloads, Run } from './types';

export interface FetchCall {
  url: URL;
  method: string;
  headers: Record<string, string>;
}

/** What a route answers: a JSON body (status 200), or a Response. */
export type FetchAnswer = unknown;

export interface FetchMock {
  calls: FetchCall[];
  /** The requests whose path is `path`. */
  callsTo: (path: string) => FetchCall[];
}

export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

/**
 * Replaces fetch: `answer(url, call)` gives each request's answer (a
 * Response, or a body answered as JSON with 200). Restored by vi.unstubAllGlobals.
 */
export function mockFetch(answer: (url: URL, call: FetchCall) => FetchAnswer | Promise<FetchAnswer>): FetchMock {
  const calls: FetchCall[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const url = new URL(String(input), 'http://dashboard.test');
      const call: FetchCall = {
        url,
        method: init?.method ?? 'GET',
        headers: { ...((init?.headers as Record<string, string> | undefined) ?? {}) },
      };
      calls.push(call);
      if (init?.signal?.aborted) throw new DOMException('aborted', 'AbortError');
      const a = await answer(url, call);
      return a instanceof Response ? a : jsonResponse(a);
    }),
  );
  return { calls, callsTo: (path) => calls.filter((c) => c.url.pathname === path) };
}

/** The `filters` parameter of a request, parsed. */
export function filtersOf(call: FetchCall): unknown {
  const f = call.url.searchParams.get('filters');
  return f === null ? null : JSON.parse(f);
}

let counter = 0;

/** A run as the server writes it; `id` made up unless given. */
export function makeRun(fields: Partial<Run> = {}): Run {
  counter += 1;
  const id = fields.id ?? `run${String(counter).padStart(28, '0')}`;
  return {
    id,
    root_id: id,
    parent_id: null,
    nested_future_id: null,
    original_run_id: null,
    name: 'pipeline',
    function_path: 'examples.first_pipeline.pipeline',
    description: null,
    source_code: null,
    future_state: 'RESOLVED',
    tags: [],
    cache_key: null,
    exception_metadata_json: null,
    external_exception_metadata_json: null,
    resource_requirements_json: null,
    container_image_uri: null,
    created_at: '2026-11-22T10:00:00.000000+00:00',
    updated_at: '2026-11-22T10:00:02.000000+00:00',
    started_at: '2026-11-22T10:00:00.500000+00:00',
    ended_at: null,
    resolved_at: '2026-11-22T10:00:02.000000+00:00',
    failed_at: null,
    user_id: null,
    user: null,
    organization_id: null,
    ...fields,
  };
}

/** A `GET /api/v1/runs` page of these runs. */
export function runsPage(content: Run[], nextCursor: string | null = null, count?: number): unknown {
  return {
    content,
    limit: content.length,
    next_cursor: nextCursor,
    after_cursor_count: count ?? content.length,
    current_page_url: 'http://dashboard.test/api/v1/runs',
    next_page_url: null,
  };
}

export interface FakeFeed {
  subscribe: Subscribe;
  emit: <K extends EventName>(name: K, payload: EventPayloads[K], seq?: number) => void;
  setConnected: (connected: boolean) => void;
}

/** A change feed the test drives; connected as soon as something subscribes. */
export function fakeFeed(): FakeFeed {
  const handlers = new Set<EventHandler>();
  const statuses = new Set<(c: boolean) => void>();
  return {
    subscribe: (_options, onEvent, onStatus) => {
      handlers.add(onEvent);
      if (onStatus !== undefined) {
        statuses.add(onStatus);
        onStatus(true);
      }
      return () => {
        handlers.delete(onEvent);
        if (onStatus !== undefined) statuses.delete(onStatus);
      };
    },
    emit: (name, payload, seq) => {
      for (const h of handlers) h(name, payload, seq ?? null);
    },
    setConnected: (c) => {
      for (const s of statuses) s(c);
    },
  };
}
