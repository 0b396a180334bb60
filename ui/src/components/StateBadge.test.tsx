import { render, screen } from '@testing-library/react';
import { StateBadge, StateChip } from './StateBadge';
import { STATUS_FILTERS, isStatusFilter, stateKind } from './states';

describe('StateBadge', () => {
  it('names the state and colours it by family', () => {
    render(<StateBadge state="NESTED_FAILED" />);
    const badge = screen.getByTestId('state-badge');
    expect(badge.textContent).toBe('Failed (nested)');
    expect(badge.dataset.state).toBe('NESTED_FAILED');
    expect(badge.className).toContain('state-failed');
  });

  it('takes the test id the page needs', () => {
    render(<StateBadge state="RAN" testId="run-state" />);
    expect(screen.getByTestId('run-state').textContent).toBe('Running');
  });
});

describe('StateChip', () => {
  it('is a square with the state for tests and the label for people', () => {
    render(<StateChip state="RESOLVED" title="pipeline, 5 min ago" />);
    const chip = screen.getByTestId('state-chip');
    expect(chip.dataset.state).toBe('RESOLVED');
    expect(chip.getAttribute('aria-label')).toBe('Succeeded');
    expect(chip.title).toBe('Succeeded: pipeline, 5 min ago');
    expect(chip.className).toContain('state-resolved');
  });
});

describe('states', () => {
  it('groups states as the runs search filters them', () => {
    expect(STATUS_FILTERS.running.states).toEqual(['CREATED', 'SCHEDULED', 'RAN', 'RETRYING']);
    expect(STATUS_FILTERS.failed.states).toEqual(['FAILED', 'NESTED_FAILED']);
    expect(stateKind('RETRYING')).toBe('running');
    expect(isStatusFilter('canceled')).toBe(true);
    expect(isStatusFilter('toString')).toBe(false);
    expect(isStatusFilter(null)).toBe(false);
  });
});
