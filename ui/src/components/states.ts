/**
 * Sematic's future states: how the dashboard names and colours them, and the
 * four statuses the runs search filters by (API.md §7).
 */
import type { FutureState } from '../api/types';

export const FUTURE_STATES: readonly FutureState[] = [
  'CREATED',
  'SCHEDULED',
  'RAN',
  'RETRYING',
  'RESOLVED',
  'FAILED',
  'NESTED_FAILED',
  'CANCELED',
];

/** The colour family of a state: one CSS class (`state-<kind>`) per family. */
export type StateKind = 'created' | 'running' | 'resolved' | 'failed' | 'canceled';

const KINDS: Record<FutureState, StateKind> = {
  CREATED: 'created',
  SCHEDULED: 'running',
  RAN: 'running',
  RETRYING: 'running',
  RESOLVED: 'resolved',
  FAILED: 'failed',
  NESTED_FAILED: 'failed',
  CANCELED: 'canceled',
};

const LABELS: Record<FutureState, string> = {
  CREATED: 'Created',
  SCHEDULED: 'Scheduled',
  RAN: 'Running',
  RETRYING: 'Retrying',
  RESOLVED: 'Succeeded',
  FAILED: 'Failed',
  NESTED_FAILED: 'Failed (nested)',
  CANCELED: 'Canceled',
};

export function stateKind(state: FutureState): StateKind {
  return KINDS[state] ?? 'created';
}

export function stateLabel(state: FutureState): string {
  return LABELS[state] ?? state;
}

/** True once a run will not change state again. */
export function isTerminal(state: FutureState): boolean {
  return state === 'RESOLVED' || state === 'FAILED' || state === 'NESTED_FAILED' || state === 'CANCELED';
}

/** The runs search's status filter (`/runs?status=`), as Sematic's dashboard groups states. */
export type StatusFilter = 'completed' | 'failed' | 'running' | 'canceled';

export const STATUS_FILTERS: Record<StatusFilter, { label: string; states: FutureState[] }> = {
  completed: { label: 'Completed', states: ['RESOLVED'] },
  failed: { label: 'Failed', states: ['FAILED', 'NESTED_FAILED'] },
  running: { label: 'Running', states: ['CREATED', 'SCHEDULED', 'RAN', 'RETRYING'] },
  canceled: { label: 'Canceled', states: ['CANCELED'] },
};

export function isStatusFilter(value: string | null): value is StatusFilter {
  return value !== null && Object.prototype.hasOwnProperty.call(STATUS_FILTERS, value);
}
