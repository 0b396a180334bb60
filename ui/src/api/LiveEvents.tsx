/**
 * One change-feed stream for the whole shell (runs and pipeline statuses),
 * shared by the pages through a context: each page registers a handler that
 * gets the events of one animation frame together (STYLE rule 61). The run
 * page follows its own pipeline with `subscribeEvents({rootId})`.
 */
import { createContext, useContext, useEffect, useMemo, useRef, useState, type ReactElement, type ReactNode } from 'react';
import { subscribeEvents, type EventHandler, type EventsOptions } from './events';
import { createFrameBatch } from './frameBatch';
import type { EventName, EventPayloads } from './types';

/** One event of the feed, as handlers get it. */
export type LiveEvent = { [K in EventName]: { name: K; payload: EventPayloads[K]; seq: number | null } }[EventName];

type Listener = (event: LiveEvent) => void;

/** 'connecting' until the stream first opens; 'offline' while it reconnects. */
export type LiveStatus = 'connecting' | 'live' | 'offline';

interface LiveContext {
  status: LiveStatus;
  listen: (l: Listener) => () => void;
}

const Context = createContext<LiveContext>({ status: 'offline', listen: () => () => undefined });

export type Subscribe = (
  options: EventsOptions,
  onEvent: EventHandler,
  onStatus?: (connected: boolean) => void,
) => () => void;

interface ProviderProps {
  children: ReactNode;
  /** The kinds followed; runs and pipeline statuses by default. */
  kinds?: EventName[];
  /** The feed itself; tests pass a fake. */
  subscribe?: Subscribe;
}

export function LiveEventsProvider({
  children,
  kinds = ['runs', 'pipeline_status'],
  subscribe = subscribeEvents,
}: ProviderProps): ReactElement {
  const [status, setStatus] = useState<LiveStatus>('connecting');
  const listeners = useRef(new Set<Listener>());
  const kindsKey = kinds.join(',');

  useEffect(() => {
    const stop = subscribe(
      { kinds: kindsKey.split(',') as EventName[] },
      (name, payload, seq) => {
        const event = { name, payload, seq } as LiveEvent;
        for (const l of [...listeners.current]) l(event);
      },
      (connected) => setStatus(connected ? 'live' : 'offline'),
    );
    return stop;
  }, [subscribe, kindsKey]);

  const value = useMemo<LiveContext>(
    () => ({
      status,
      listen: (l: Listener) => {
        listeners.current.add(l);
        return () => {
          listeners.current.delete(l);
        };
      },
    }),
    [status],
  );
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

/** Whether the shell's stream is connected (the top bar's indicator). */
export function useLiveStatus(): LiveStatus {
  return useContext(Context).status;
}

/**
 * Calls `handler` with the events of each animation frame, in order, while
 * the component is mounted. The latest `handler` is used; it need not be
 * memoised.
 */
export function useLiveEvents(handler: (events: LiveEvent[]) => void): void {
  const { listen } = useContext(Context);
  const handlerRef = useRef(handler);
  handlerRef.current = handler;
  useEffect(() => {
    const batch = createFrameBatch<LiveEvent>((events) => handlerRef.current(events));
    const stop = listen((e) => batch.push(e));
    return () => {
      stop();
      batch.cancel();
    };
  }, [listen]);
}
