/**
 * The store's change feed, `GET /api/v1/events` (docs/server.md "Live
 * events"), read with fetch rather than EventSource so that the API key can
 * travel in `X-API-KEY`. Reconnects by itself, resuming after the last
 * change sequence it saw, so no commit is missed or repeated.
 */
import { apiHeaders, notifyUnauthorized, query } from './http';
import type { EventName, EventPayloads } from './types';

export interface SseMessage {
  event: string;
  data: string;
  id: string | null;
}

/**
 * Splits a server-sent event stream into messages; feed it text as it comes
 * (chunks may cut lines anywhere) and it returns the messages completed.
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | null = null;

  push(chunk: string): SseMessage[] {
    this.buffer += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const nl = this.buffer.search(/\r\n|\r|\n/);
      if (nl < 0) break;
      const line = this.buffer.slice(0, nl);
      const sep = this.buffer.startsWith('\r\n', nl) ? 2 : 1;
      this.buffer = this.buffer.slice(nl + sep);
      if (line === '') {
        if (this.data.length > 0 || this.event !== '')
          out.push({ event: this.event === '' ? 'message' : this.event, data: this.data.join('\n'), id: this.id });
        this.event = '';
        this.data = [];
        this.id = null;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
      else if (field === 'id') this.id = value;
    }
    return out;
  }
}

export interface EventsOptions {
  /** Only this pipeline run's events. */
  rootId?: string;
  /** Only these kinds (all when left out). */
  kinds?: EventName[];
  /** Start after this change sequence (from now when left out). */
  after?: number;
}

export type EventHandler = <K extends EventName>(name: K, payload: EventPayloads[K], seq: number | null) => void;

/**
 * Follows the change feed until the returned function is called. `onEvent`
 * gets each event in order; `onStatus` says whether the stream is connected.
 */
export function subscribeEvents(
  options: EventsOptions,
  onEvent: EventHandler,
  onStatus?: (connected: boolean) => void,
): () => void {
  const controller = new AbortController();
  let after = options.after;
  let retryMs = 1000;

  const run = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      try {
        const url =
          '/api/v1/events' +
          query({ root_id: options.rootId, kinds: options.kinds?.join(','), after: after });
        const resp = await fetch(url, {
          headers: apiHeaders({ Accept: 'text/event-stream' }),
          signal: controller.signal,
        });
        if (resp.status === 401) notifyUnauthorized('Missing API key');
        if (!resp.ok || resp.body === null) throw new Error(`events: HTTP ${resp.status}`);
        onStatus?.(true);
        retryMs = 1000;
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        const parser = new SseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const m of parser.push(value)) {
            const seq = m.id === null ? null : Number(m.id);
            if (seq !== null && Number.isFinite(seq)) after = seq;
            let payload: unknown;
            try {
              payload = JSON.parse(m.data);
            } catch {
              continue;
            }
            onEvent(m.event as EventName, payload as EventPayloads[EventName], seq);
          }
        }
      } catch (e) {
        if (controller.signal.aborted) return;
        console.warn('dashboard: event stream lost, reconnecting', e);
      }
      onStatus?.(false);
      if (controller.signal.aborted) return;
      await new Promise((r) => setTimeout(r, retryMs));
      retryMs = Math.min(retryMs * 2, 10000);
    }
  };
  void run();
  return () => controller.abort();
}
