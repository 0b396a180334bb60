import { render, screen } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { setApiKey } from '../api/http';
import { jsonResponse, makeRun, mockFetch, runsPage } from '../api/testUtils';
import { AppRoutes } from './App';

afterEach(() => {
  vi.unstubAllGlobals();
  setApiKey(null);
});

function renderAt(path: string): void {
  render(
    <MemoryRouter initialEntries={[path]}>
      <AppRoutes />
    </MemoryRouter>,
  );
}

describe('AppRoutes', () => {
  it('opens on the pipelines index, with the top bar', async () => {
    mockFetch((url) => {
      if (url.pathname === '/authenticate') return { authenticate: false, providers: {} };
      if (url.pathname === '/api/v1/events') return new Response('retry: 3000\n\n', { status: 200 });
      if (url.pathname.endsWith('/metrics'))
        return { content: { avg_runtime_children: {}, count_by_state: {}, total_count: 0 } };
      return runsPage([makeRun({ id: 'p1' })]);
    });
    renderAt('/');
    expect(await screen.findByRole('heading', { name: 'Pipelines' })).toBeTruthy();
    expect(await screen.findByTestId('pipeline-row')).toBeTruthy();
    expect(screen.getByRole('link', { name: 'Runs' })).toBeTruthy();
    expect(screen.getByTestId('connection')).toBeTruthy();
  });

  it('shows the login page when the API answers 401', async () => {
    setApiKey('stale');
    mockFetch((url) =>
      url.pathname === '/authenticate'
        ? { authenticate: true, providers: {} }
        : jsonResponse({ error: 'Missing API key' }, 401),
    );
    renderAt('/runs?status=failed');
    expect((await screen.findByTestId('login')).textContent).toContain('sematic users create EMAIL');
  });
});
