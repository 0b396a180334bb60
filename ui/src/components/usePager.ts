/**
 * Keyset paging kept in the URL: `cursor` is the current page's cursor (none
 * on the first page) and `prev` the cursors of the pages before it, comma
 * separated ('' for the first), so Previous works from a deep link too.
 * Cursors are base64 and never hold a comma.
 */
import { useCallback } from 'react';
import { useSearchParams } from 'react-router-dom';

export interface Pager {
  cursor: string | undefined;
  /** 1 on the first page. */
  pageNumber: number;
  hasPrevious: boolean;
  next: (nextCursor: string) => void;
  previous: () => void;
}

export function usePager(): Pager {
  const [params, setParams] = useSearchParams();
  const cursor = params.get('cursor') ?? undefined;
  const prevRaw = params.get('prev');
  const stack = prevRaw === null ? [] : prevRaw.split(',');

  const next = useCallback(
    (nextCursor: string) => {
      setParams((p) => {
        const q = new URLSearchParams(p);
        const before = q.get('prev');
        const list = before === null ? [] : before.split(',');
        list.push(q.get('cursor') ?? '');
        q.set('prev', list.join(','));
        q.set('cursor', nextCursor);
        return q;
      });
    },
    [setParams],
  );

  const previous = useCallback(() => {
    setParams((p) => {
      const q = new URLSearchParams(p);
      const list = (q.get('prev') ?? '').split(',');
      const back = list.pop() ?? '';
      if (list.length === 0) q.delete('prev');
      else q.set('prev', list.join(','));
      if (back === '') q.delete('cursor');
      else q.set('cursor', back);
      return q;
    });
  }, [setParams]);

  return { cursor, pageNumber: stack.length + 1, hasPrevious: cursor !== undefined, next, previous };
}

/** Drops the paging parameters: a filter that changes starts again from the first page. */
export function withoutPaging(p: URLSearchParams): URLSearchParams {
  const q = new URLSearchParams(p);
  q.delete('cursor');
  q.delete('prev');
  return q;
}
