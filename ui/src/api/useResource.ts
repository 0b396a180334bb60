/**
 * Reading one resource from the API in a component: loading and error
 * states, the request aborted when the component goes or asks for another
 * resource, and the last data kept while a refresh is under way (so a live
 * refresh does not flash an empty table).
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from './http';

export interface Resource<T> {
  data: T | null;
  /** The last failure; cleared by the next success. */
  error: ApiError | null;
  /** True while a request is out (the first one, or a refresh). */
  loading: boolean;
  /** Reads the resource again (live updates call this). */
  reload: () => void;
}

/**
 * Calls `load` whenever `key` changes (and on `reload()`); `key` null means
 * nothing to read. `load` gets the AbortSignal of its request.
 */
export function useResource<T>(key: string | null, load: (signal: AbortSignal) => Promise<T>): Resource<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiError | null; loading: boolean; key: string | null }>(
    { data: null, error: null, loading: key !== null, key },
  );
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    if (key === null) {
      setState({ data: null, error: null, loading: false, key });
      return undefined;
    }
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    loadRef.current(controller.signal).then(
      (data) => {
        if (!controller.signal.aborted) setState({ data, error: null, loading: false, key });
      },
      (e: unknown) => {
        if (controller.signal.aborted) return;
        const error = e instanceof ApiError ? e : new ApiError(0, e instanceof Error ? e.message : String(e));
        setState((s) => ({ data: s.key === key ? s.data : null, error, loading: false, key }));
      },
    );
    return () => controller.abort();
  }, [key, generation]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}
