/**
 * One change-feed stream for the whole shell (runs and pipeline statuses),
 * shared by the pages through a context: each page registers a handler that
 * gets the events of one animation frame together (STYLE rule 61). The run
 * page follows its own pipeline with `subscribeEvents({rootId})` and shows
 * that stream's state in the top bar with `useReportLiveStatus`.
 */
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type ReactElement,
  type ReactNode,
} from 'react';
import { subscribeEvents, type EventHandler, type EventsOptions } from './events';
import { createFrameBatch } from './frameBatch';
import type { EventName, EventPayloads } from './types';

/** One event of the feed, as handlers get it. */
export type LiveEvent = { [K in EventName]: { name: K; payload: EventPayloads[K]; seq: number | null } }[EventName];

type Listener = (event: LiveEvent) => void;

/**
 * 'connecting' until the stream first opens; 'offline' while it reconnects;
 * 'idle' when nothing on the page follows the feed.
 */
export type LiveStatus = 'connecting' | 'live' | 'offline' | 'idle';

interface LiveContext {
  status: LiveStatus;
  listen: (l: Listener) => () => void;
  /** A page with its own stream (the run page) reports its state for the top bar. */
  report: (status: LiveStatus | null) => void;
}

const Context = createContext<LiveContext>({
  status: 'idle',
  listen: () => () => undefined,
  report: () => undefined,
});

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

/**
 * Holds the shell's stream while some component listens (useLiveEvents), and
 * only then: a page that follows its own stream (the run page, with
 * `?root_id=`) does not pay for a second one that would carry every run of
 * every pipeline.
 */
export function LiveEventsProvider({
  children,
  kinds = ['runs', 'pipeline_status'],
  subscribe = subscribeEvents,
}: ProviderProps): ReactElement {
  const [own, setOwn] = useState<LiveStatus>('connecting');
  const [reported, setReported] = useState<LiveStatus | null>(null);
  const [listening, setListening] = useState(0);
  const listeners = useRef(new Set<Listener>());
  const kindsKey = kinds.join(',');
  const active = listening > 0;

  useEffect(() => {
    if (!active) return undefined;
    setOwn('connecting');
    const stop = subscribe(
      { kinds: kindsKey.split(',') as EventName[] },
      (name, payload, seq) => {
        const event = { name, payload, seq } as LiveEvent;
        for (const l of [...listeners.current]) l(event);
      },
      (connected) => setOwn(connected ? 'live' : 'offline'),
    );
    return stop;
  }, [subscribe, kindsKey, active]);

  const listen = useCallback((l: Listener) => {
    listeners.current.add(l);
    setListening((n) => n + 1);
    return () => {
      if (listeners.current.delete(l)) setListening((n) => n - 1);
    };
  }, []);

  const status: LiveStatus = active ? own : (reported ?? 'idle');
  const value = useMemo<LiveContext>(() => ({ status, listen, report: setReported }), [status, listen]);
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

/**
 * For a page that reads its own stream (`subscribeEvents`): shows that
 * stream's state in the top bar while the page is mounted. Pass
 * `connected` from subscribeEvents' onStatus (null before the first call).
 */
export function useReportLiveStatus(connected: boolean | null): void {
  const { report } = useContext(Context);
  useEffect(() => {
    report(connected === null ? 'connecting' : connected ? 'live' : 'offline');
  }, [connected, report]);
  useEffect(() => () => report(null), [report]);
}
