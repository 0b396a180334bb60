/**
 * A page of runs kept current by the change feed: `runs` deltas are applied
 * to a map keyed by run id (the rows shown take their state and times from
 * it), and deltas of runs not on the page that `isNew` accepts are counted,
 * so the page can offer to show them.
 */
import { useEffect, useState } from 'react';
import { useLiveEvents } from './LiveEvents';
import type { Run, RunDelta } from './types';

export interface LiveRuns {
  rows: Run[];
  /** Runs the feed announced that this page does not show and that would belong to it. */
  newRuns: number;
}

export function useLiveRuns(page: Run[] | null, isNew: (delta: RunDelta) => boolean = () => false): LiveRuns {
  const [deltas, setDeltas] = useState<ReadonlyMap<string, RunDelta>>(new Map());
  const [fresh, setFresh] = useState<ReadonlySet<string>>(new Set());

  // A new page starts from what the server said.
  useEffect(() => {
    setDeltas(new Map());
    setFresh(new Set());
  }, [page]);

  useLiveEvents((events) => {
    if (page === null) return;
    const shown = new Set(page.map((r) => r.id));
    const changed = new Map<string, RunDelta>();
    const added: string[] = [];
    for (const e of events) {
      if (e.name !== 'runs' || !('runs' in e.payload)) continue;
      for (const d of e.payload.runs) {
        if (shown.has(d.id)) changed.set(d.id, d);
        else if (isNew(d)) added.push(d.id);
      }
    }
    if (changed.size > 0)
      setDeltas((m) => {
        const next = new Map(m);
        for (const [id, d] of changed) next.set(id, d);
        return next;
      });
    if (added.length > 0) setFresh((s) => new Set([...s, ...added]));
  });

  const rows =
    page === null
      ? []
      : deltas.size === 0
        ? page
        : page.map((r) => {
            const d = deltas.get(r.id);
            return d === undefined ? r : { ...r, ...d };
          });
  return { rows, newRuns: fresh.size };
}
