import type { KeyboardEvent, MouseEvent, ReactElement } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import type { Run } from '../api/types';
import { CopyButton } from './CopyButton';
import { RelativeTime } from './RelativeTime';
import { StateBadge } from './StateBadge';
import { Tags } from './Tags';
import { formatDuration, runDurationSeconds } from './time';
import './components.css';

export type RunColumn = 'id' | 'submitted' | 'name' | 'function' | 'tags' | 'duration' | 'status';

interface RunsTableProps {
  runs: Run[];
  columns: RunColumn[];
  /** Where a row leads. */
  href: (run: Run) => string;
  /** Shown instead of the rows when there are none. */
  empty: string;
}

const HEADERS: Record<RunColumn, string> = {
  id: 'ID',
  submitted: 'Submitted',
  name: 'Name',
  function: 'Function path',
  tags: 'Tags',
  duration: 'Duration',
  status: 'Status',
};

function cell(run: Run, column: RunColumn, href: string): ReactElement {
  switch (column) {
    case 'id':
      return (
        <td key={column} className="mono small nowrap">
          <Link to={href}>{run.id}</Link>
          <CopyButton text={run.id} label="Copy run id" testId="copy-run-id" />
        </td>
      );
    case 'submitted':
      return (
        <td key={column} className="nowrap">
          <RelativeTime time={run.created_at} />
        </td>
      );
    case 'name':
      return (
        <td key={column} className="strong">
          {run.name}
        </td>
      );
    case 'function':
      return (
        <td key={column} className="mono small muted">
          {run.function_path}
        </td>
      );
    case 'tags':
      return (
        <td key={column}>
          <Tags tags={run.tags} />
        </td>
      );
    case 'duration':
      return (
        <td key={column} className="nowrap">
          {formatDuration(runDurationSeconds(run))}
        </td>
      );
    case 'status':
      return (
        <td key={column}>
          <StateBadge state={run.future_state} />
        </td>
      );
  }
}

/**
 * A page of runs; a row leads to `href(run)` on click or Enter (the id is
 * also a real link, for new tabs). Rows are `[data-testid=run-row][data-run-id]`.
 */
export function RunsTable({ runs, columns, href, empty }: RunsTableProps): ReactElement {
  const navigate = useNavigate();
  const open = (e: MouseEvent | KeyboardEvent, run: Run): void => {
    if ((e.target as HTMLElement).closest('a, button') !== null) return;
    navigate(href(run));
  };
  return (
    <table className="table">
      <thead>
        <tr>
          {columns.map((c) => (
            <th key={c}>{HEADERS[c]}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {runs.length === 0 ? (
          <tr>
            <td colSpan={columns.length} className="muted empty">
              {empty}
            </td>
          </tr>
        ) : (
          runs.map((run) => (
            <tr
              key={run.id}
              className="clickable"
              data-testid="run-row"
              data-run-id={run.id}
              data-state={run.future_state}
              tabIndex={0}
              onClick={(e) => open(e, run)}
              onKeyDown={(e) => {
                if (e.key === 'Enter') open(e, run);
              }}
            >
              {columns.map((c) => cell(run, c, href(run)))}
            </tr>
          ))
        )}
      </tbody>
    </table>
  );
}

interface PagerBarProps {
  pageNumber: number;
  hasPrevious: boolean;
  nextCursor: string | null | undefined;
  onPrevious: () => void;
  onNext: (cursor: string) => void;
  /** `after_cursor_count`: runs from this page on. */
  remaining?: number;
  pageSize: number;
}

/** Previous / Next under a keyset-paged table. */
export function PagerBar({
  pageNumber,
  hasPrevious,
  nextCursor,
  onPrevious,
  onNext,
  remaining,
  pageSize,
}: PagerBarProps): ReactElement {
  const total = remaining === undefined ? null : (pageNumber - 1) * pageSize + remaining;
  return (
    <div className="pager">
      <button type="button" data-testid="previous-page" disabled={!hasPrevious} onClick={onPrevious}>
        ← Previous
      </button>
      <span className="muted">
        Page {pageNumber}
        {total !== null && ` · ${total} run${total === 1 ? '' : 's'}`}
      </span>
      <button
        type="button"
        data-testid="next-page"
        disabled={nextCursor === null || nextCursor === undefined}
        onClick={() => {
          if (nextCursor !== null && nextCursor !== undefined) onNext(nextCursor);
        }}
      >
        Next →
      </button>
    </div>
  );
}
