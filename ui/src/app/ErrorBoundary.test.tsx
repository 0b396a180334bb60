import { render, screen } from '@testing-library/react';
import type { ReactElement } from 'react';
import { ErrorBoundary } from './ErrorBoundary';

function Broken(): ReactElement {
  throw new Error('the graph exploded');
}

describe('ErrorBoundary', () => {
  it('shows which region failed and why, instead of blanking the page', () => {
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    render(
      <ErrorBoundary region="run graph">
        <Broken />
      </ErrorBoundary>,
    );
    expect(screen.getByRole('alert').textContent).toContain('The run graph failed to render.');
    expect(screen.getByRole('alert').textContent).toContain('the graph exploded');
    quiet.mockRestore();
  });

  it('renders its children when they do not throw', () => {
    render(
      <ErrorBoundary region="page">
        <p>fine</p>
      </ErrorBoundary>,
    );
    expect(screen.getByText('fine')).toBeTruthy();
  });
});
