import { useState, type ReactElement, type ReactNode } from 'react';

interface ShowMoreProps {
  count: number;
  /** How many the summary says there are (may exceed `count`: Sematic truncates long lists). */
  total: number;
  render(index: number): ReactNode;
  first?: number;
}

/** The first items of a long collection, and a "show more" button for the rest. */
export function ShowMore({ count, total, render, first = 20 }: ShowMoreProps): ReactElement {
  const [shown, setShown] = useState(first);
  const n = Math.min(count, shown);
  const items: ReactNode[] = [];
  for (let i = 0; i < n; i++) items.push(render(i));
  return (
    <>
      {items}
      {n < count && (
        <li className="show-more">
          <button type="button" data-testid="show-more" onClick={() => setShown((s) => s + 100)}>
            Show more ({count - n} left)
          </button>
        </li>
      )}
      {n >= count && total > count && (
        <li className="muted">… {total - count} more not kept in the summary</li>
      )}
    </>
  );
}
