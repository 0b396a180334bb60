import { act, render, screen } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { LiveEventsProvider } from '../api/LiveEvents';
import { fakeFeed } from '../api/testUtils';
import { TopBar } from './TopBar';

describe('TopBar', () => {
  it('links the pages and shows whether the change feed is connected', () => {
    const feed = fakeFeed();
    render(
      <MemoryRouter initialEntries={['/runs']}>
        <LiveEventsProvider subscribe={feed.subscribe}>
          <TopBar />
        </LiveEventsProvider>
      </MemoryRouter>,
    );
    expect(screen.getByRole('link', { name: 'Runs' }).className).toContain('active');
    expect(screen.getByRole('link', { name: 'Pipelines' }).getAttribute('href')).toBe('/pipelines');
    const conn = screen.getByTestId('connection');
    expect(conn.dataset.status).toBe('live');
    act(() => feed.setConnected(false));
    expect(conn.dataset.status).toBe('offline');
    expect(conn.textContent).toBe('Reconnecting');
  });
});
