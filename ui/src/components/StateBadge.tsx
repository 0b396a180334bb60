import type { ReactElement } from 'react';
import type { FutureState } from '../api/types';
import { stateKind, stateLabel } from './states';
import './components.css';

interface StateBadgeProps {
  state: FutureState;
  /** `data-testid`; `state-badge` unless given (the run page uses `run-state`). */
  testId?: string;
}

/** A run's state as a coloured label: "Succeeded", "Failed", "Running"... */
export function StateBadge({ state, testId = 'state-badge' }: StateBadgeProps): ReactElement {
  return (
    <span className={`state-badge state-${stateKind(state)}`} data-testid={testId} data-state={state}>
      <span className="state-dot" aria-hidden="true" />
      {stateLabel(state)}
    </span>
  );
}

interface StateChipProps {
  state: FutureState;
  /** What the chip's tooltip says besides the state (the run's name or time). */
  title?: string;
  testId?: string;
}

/** A run's state as a small coloured square, for rows of recent runs. */
export function StateChip({ state, title, testId = 'state-chip' }: StateChipProps): ReactElement {
  const label = stateLabel(state);
  return (
    <span
      className={`state-chip state-${stateKind(state)}`}
      data-testid={testId}
      data-state={state}
      title={title === undefined ? label : `${label}: ${title}`}
      role="img"
      aria-label={label}
    />
  );
}
