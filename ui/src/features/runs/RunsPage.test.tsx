import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import type { ReactElement } from 'react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import { LiveEventsProvider } from '../../api/LiveEvents';
import { fakeFeed, jsonResponse, makeRun, mockFetch, runsPage, type FakeFeed } from '../../api/testUtils';
import type { Run } from '../../api/types';
import { RunsPage } from './RunsPage';

afterEach(() => vi.unstubAllGlobals());

function Where(): ReactElement {
  const l = useLocation();
  return <p data-testid="where">{l.pathname + l.search + l.hash}</p>;
}

function renderAt(url: string, feed: FakeFeed = fakeFeed()): void {
  render(
    <MemoryRouter initialEntries={[url]}>
      <LiveEventsProvider subscribe={feed.subscribe}>
        <Routes>
          <Route
            path="/runs"
            element={
              <>
                <RunsPage />
                <Where />
              </>
            }
          />
          <Route path="*" element={<Where />} />
        </Routes>
      </LiveEventsProvider>
    </MemoryRouter>,
  );
}

const pipelines = [makeRun({ id: 'p0', function_path: 'a.b.pipeline', name: 'pipeline' })];

/** The search requests (not the pipeline filter's list). */
function searches(f: ReturnType<typeof mockFetch>): URL[] {
  return f.callsTo('/api/v1/runs').filter((c) => c.url.searchParams.get('group_by') === null).map((c) => c.url);
}

describe('RunsPage', () => {
  it('reads the filters of a deep link into the request', async () => {
    const f = mockFetch((url) => (url.searchParams.get('group_by') !== null ? runsPage(pipelines) : runsPage([])));
    renderAt('/runs?search=train&status=failed&tag=nightly&pipeline=a.b.pipeline&root=1');
    await screen.findByText('No runs match these filters.');
    const u = searches(f)[0];
    expect(u.searchParams.get('search')).toBe('train');
    expect(u.searchParams.get('limit')).toBe('25');
    expect(JSON.parse(u.searchParams.get('filters')!)).toEqual({
      AND: [
        { parent_id: { eq: null } },
        { function_path: { eq: 'a.b.pipeline' } },
        { future_state: { in: ['FAILED', 'NESTED_FAILED'] } },
        { tags: { contains: 'nightly' } },
      ],
    });
    expect((screen.getByTestId('status-filter') as HTMLSelectElement).value).toBe('failed');
    expect((screen.getByTestId('root-only') as HTMLInputElement).checked).toBe(true);
    expect((screen.getByTestId('runs-search') as HTMLInputElement).value).toBe('train');
    await waitFor(() => expect((screen.getByTestId('pipeline-filter') as HTMLSelectElement).value).toBe('a.b.pipeline'));
  });

  it('puts each filter in the URL and asks again', async () => {
    const f = mockFetch((url) => (url.searchParams.get('group_by') !== null ? runsPage(pipelines) : runsPage([])));
    renderAt('/runs');
    await screen.findByText('No runs match these filters.');
    expect(searches(f)[0].searchParams.get('filters')).toBeNull();

    fireEvent.change(screen.getByTestId('status-filter'), { target: { value: 'running' } });
    await waitFor(() => expect(screen.getByTestId('where').textContent).toBe('/runs?status=running'));
    fireEvent.click(screen.getByTestId('root-only'));
    fireEvent.change(screen.getByTestId('tag-filter'), { target: { value: 'v2' } });
    fireEvent.keyDown(screen.getByTestId('tag-filter'), { key: 'Enter' });
    fireEvent.change(screen.getByTestId('runs-search'), { target: { value: 'fit' } });
    await waitFor(() => expect(screen.getByTestId('where').textContent).toBe('/runs?status=running&root=1&tag=v2&search=fit'));
    await waitFor(() => {
      const u = searches(f).at(-1)!;
      expect(u.searchParams.get('search')).toBe('fit');
      expect(JSON.parse(u.searchParams.get('filters')!)).toEqual({
        AND: [
          { parent_id: { eq: null } },
          { future_state: { in: ['CREATED', 'SCHEDULED', 'RAN', 'RETRYING'] } },
          { tags: { contains: 'v2' } },
        ],
      });
    });
  });

  it('pages with the cursor, forward and back, from the URL', async () => {
    const page1 = [makeRun({ id: 'a1' }), makeRun({ id: 'a2' })];
    const page2 = [makeRun({ id: 'b1' })];
    const page3 = [makeRun({ id: 'c1' })];
    const f = mockFetch((url) => {
      if (url.searchParams.get('group_by') !== null) return runsPage(pipelines);
      const c = url.searchParams.get('cursor');
      if (c === null) return runsPage(page1, 'C2/+=', 4);
      if (c === 'C2/+=') return runsPage(page2, 'C3', 2);
      return runsPage(page3, null, 1);
    });
    renderAt('/runs?status=completed');
    const ids = (): string[] => screen.getAllByTestId('run-row').map((r) => r.dataset.runId ?? '');
    await waitFor(() => expect(ids()).toEqual(['a1', 'a2']));
    expect((screen.getByTestId('previous-page') as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(screen.getByTestId('next-page'));
    await waitFor(() => expect(ids()).toEqual(['b1']));
    fireEvent.click(screen.getByTestId('next-page'));
    await waitFor(() => expect(ids()).toEqual(['c1']));
    expect((screen.getByTestId('next-page') as HTMLButtonElement).disabled).toBe(true);
    expect(searches(f).at(-1)!.searchParams.get('filters')).toContain('RESOLVED');
    fireEvent.click(screen.getByTestId('previous-page'));
    await waitFor(() => expect(ids()).toEqual(['b1']));
    expect(searches(f).at(-1)!.searchParams.get('cursor')).toBe('C2/+=');
    fireEvent.click(screen.getByTestId('previous-page'));
    await waitFor(() => expect(ids()).toEqual(['a1', 'a2']));
    expect(screen.getByTestId('where').textContent).toBe('/runs?status=completed');
  });

  it("applies the feed's deltas to the rows shown and counts new runs", async () => {
    const rows: Run[] = [makeRun({ id: 'x1', future_state: 'RAN', name: 'fit' })];
    mockFetch((url) => (url.searchParams.get('group_by') !== null ? runsPage(pipelines) : runsPage(rows)));
    const feed = fakeFeed();
    renderAt('/runs', feed);
    const row = await screen.findByTestId('run-row');
    expect(row.dataset.state).toBe('RAN');
    act(() => {
      feed.emit('runs', { runs: [{ ...rows[0], future_state: 'RESOLVED' }] });
      feed.emit('runs', { runs: [{ ...makeRun({ id: 'x2', parent_id: 'x0' }) }] });
    });
    await waitFor(() => expect(screen.getByTestId('run-row').dataset.state).toBe('RESOLVED'));
    expect(screen.getByTestId('run-row').textContent).toContain('Succeeded');
    expect(screen.getByTestId('new-runs').textContent).toContain('1 new run');
  });

  it('leads a row to its run inside its pipeline run', async () => {
    mockFetch((url) =>
      url.searchParams.get('group_by') !== null
        ? runsPage(pipelines)
        : runsPage([makeRun({ id: 'child', root_id: 'root', parent_id: 'root', name: 'fit' })]),
    );
    renderAt('/runs');
    const row = await screen.findByTestId('run-row');
    fireEvent.click(row.querySelector('td:nth-child(3)')!);
    expect(screen.getByTestId('where').textContent).toBe('/runs/root#run=child');
  });

  it("shows the server's message when the search fails", async () => {
    mockFetch((url) =>
      url.searchParams.get('group_by') !== null
        ? runsPage(pipelines)
        : jsonResponse({ error: "invalid filters at AND[1]: unknown column 'colour'" }, 400),
    );
    renderAt('/runs?tag=x');
    expect((await screen.findByRole('alert')).textContent).toContain("unknown column 'colour'");
  });
});
