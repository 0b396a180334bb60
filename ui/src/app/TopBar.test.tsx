import { act, render, screen } from '@testing-library/react';
import type { ReactElement } from 'react';
import { MemoryRouter } from 'react-router-dom';
import { LiveEventsProvider, useLiveEvents, useReportLiveStatus } from '../api/LiveEvents';
import { fakeFeed } from '../api/testUtils';
import { TopBar } from './TopBar';

function Listening(): null {
  useLiveEvents(() => undefined);
  return null;
}

function OwnStream({ connected }: { connected: boolean | null }): null {
  useReportLiveStatus(connected);
  return null;
}

function renderBar(children: ReactElement | null, feed = fakeFeed()): void {
  render(
    <MemoryRouter initialEntries={['/runs']}>
      <LiveEventsProvider subscribe={feed.subscribe}>
        <TopBar />
        {children}
      </LiveEventsProvider>
    </MemoryRouter>,
  );
}

describe('TopBar', () => {
  it('links the pages and shows whether the change feed is connected', () => {
    const feed = fakeFeed();
    renderBar(<Listening />, feed);
    expect(screen.getByRole('link', { name: 'Runs' }).className).toContain('active');
    expect(screen.getByRole('link', { name: 'Pipelines' }).getAttribute('href')).toBe('/pipelines');
    const conn = screen.getByTestId('connection');
    expect(conn.dataset.status).toBe('live');
    act(() => feed.setConnected(false));
    expect(conn.dataset.status).toBe('offline');
    expect(conn.textContent).toBe('Reconnecting');
  });

  it("shows a page's own stream when the shell's is not needed", () => {
    const { rerender } = render(
      <MemoryRouter>
        <LiveEventsProvider subscribe={fakeFeed().subscribe}>
          <TopBar />
          <OwnStream connected={null} />
        </LiveEventsProvider>
      </MemoryRouter>,
    );
    expect(screen.getByTestId('connection').dataset.status).toBe('connecting');
    rerender(
      <MemoryRouter>
        <LiveEventsProvider subscribe={fakeFeed().subscribe}>
          <TopBar />
          <OwnStream connected={true} />
        </LiveEventsProvider>
      </MemoryRouter>,
    );
    expect(screen.getByTestId('connection').dataset.status).toBe('live');
  });
});
