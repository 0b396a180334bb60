import { useEffect, useRef, useState } from 'react';
import { fetchDag } from '../../api/dag';
import { subscribeEvents } from '../../api/events';
import type { EventHub } from '../../api/eventHub';
import type { RunDelta } from '../../api/types';
import { applyRunDeltas, modelFromDag, type GraphModel } from './graphModel';
import { warmLayoutWorker } from './useLayout';

export interface GraphModelState {
  model: GraphModel | null;
  loading: boolean;
  error: Error | null;
  /** Whether the change feed is connected. */
  live: boolean;
}

/** Refetches of the dag (after `edges` events) are at least this far apart. */
const REFETCH_MS = 1000;

/**
 * The pipeline `rootId`'s graph, live: reads the dag, then follows the change
 * feed from its change sequence, forwarding every event to `hub`. `runs`
 * deltas are applied once per animation frame; `edges` (and reloads) read
 * the dag again, at most once a second. Aborts everything on unmount.
 */
export function useGraphModel(rootId: string, hub: EventHub): GraphModelState {
  const [state, setState] = useState<GraphModelState>({ model: null, loading: true, error: null, live: false });
  const structure = useRef(1);

  useEffect(() => {
    const controller = new AbortController();
    let unsubscribe: (() => void) | null = null;
    let buffer: RunDelta[] = [];
    let frame = 0;
    let refetchTimer: number | undefined;
    let refetching = false;
    let lastRefetch = 0;
    setState({ model: null, loading: true, error: null, live: false });

    const flush = (): void => {
      frame = 0;
      const deltas = buffer;
      buffer = [];
      setState((s) => {
        if (s.model === null) return s;
        const { model, pending } = applyRunDeltas(s.model, deltas);
        buffer.push(...pending);
        return model === s.model ? s : { ...s, model };
      });
    };
    const refetch = (): void => {
      if (refetching || controller.signal.aborted) return;
      const wait = lastRefetch + REFETCH_MS - Date.now();
      if (wait > 0) {
        if (refetchTimer === undefined)
          refetchTimer = window.setTimeout(() => {
            refetchTimer = undefined;
            refetch();
          }, wait);
        return;
      }
      refetching = true;
      lastRefetch = Date.now();
      fetchDag(rootId, controller.signal).then(
        (dag) => {
          refetching = false;
          structure.current++;
          const fresh = modelFromDag(dag, structure.current);
          setState((s) => ({ ...s, model: fresh, error: null }));
        },
        (e: unknown) => {
          refetching = false;
          if (!controller.signal.aborted) console.warn('dashboard: reading the graph again failed', e);
        },
      );
    };

    const offRuns = hub.on('runs', (p) => {
      if ('reload' in p) {
        refetch();
        return;
      }
      buffer.push(...p.runs);
      if (frame === 0) frame = requestAnimationFrame(flush);
    });
    const offEdges = hub.on('edges', (p) => {
      if ('reload' in p || p.root_ids.includes(rootId)) refetch();
    });

    warmLayoutWorker();
    fetchDag(rootId, controller.signal).then(
      (dag) => {
        if (controller.signal.aborted) return;
        structure.current++;
        setState({ model: modelFromDag(dag, structure.current), loading: false, error: null, live: false });
        unsubscribe = subscribeEvents(
          { rootId, after: dag.change_seq >= 0 ? dag.change_seq : undefined },
          (name, payload, seq) => hub.emit(name, payload, seq),
          (live) => setState((s) => (s.live === live ? s : { ...s, live })),
        );
      },
      (e: unknown) => {
        if (controller.signal.aborted) return;
        setState({ model: null, loading: false, error: e instanceof Error ? e : new Error(String(e)), live: false });
      },
    );
    return () => {
      controller.abort();
      unsubscribe?.();
      offRuns();
      offEdges();
      if (frame !== 0) cancelAnimationFrame(frame);
      window.clearTimeout(refetchTimer);
    };
  }, [rootId, hub]);

  return state;
}
