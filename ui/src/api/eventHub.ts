/**
 * One page's share of the change feed: the page opens one stream and every
 * region (graph, run panel, logs, notes) listens here for its kinds.
 */
import type { EventName, EventPayloads } from './types';

type Listener<K extends EventName> = (payload: EventPayloads[K], seq: number | null) => void;

export class EventHub {
  private listeners = new Map<EventName, Set<Listener<EventName>>>();

  /** Calls `fn` for each event of `kind` until the returned function is called. */
  on<K extends EventName>(kind: K, fn: Listener<K>): () => void {
    let set = this.listeners.get(kind);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(kind, set);
    }
    const l = fn as unknown as Listener<EventName>;
    set.add(l);
    return () => {
      set.delete(l);
    };
  }

  emit<K extends EventName>(kind: K, payload: EventPayloads[K], seq: number | null): void {
    const set = this.listeners.get(kind);
    if (set === undefined) return;
    for (const fn of [...set]) fn(payload as EventPayloads[EventName], seq);
  }
}
