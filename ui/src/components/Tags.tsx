import type { ReactElement } from 'react';
import './components.css';

/** A run's tags as small pills; nothing when it has none. */
export function Tags({ tags }: { tags: readonly string[] }): ReactElement | null {
  if (tags.length === 0) return null;
  return (
    <span className="tags">
      {tags.map((t) => (
        <span key={t} className="tag">
          {t}
        </span>
      ))}
    </span>
  );
}
