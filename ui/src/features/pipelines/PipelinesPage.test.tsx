import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import type { ReactElement } from 'react';
import { LiveEventsProvider } from '../../api/LiveEvents';
import { fakeFeed, filtersOf, jsonResponse, makeRun, mockFetch, runsPage, type FakeFeed } from '../../api/testUtils';
import type { FutureState, Run } from '../../api/types';
import { PipelinesPage } from './PipelinesPage';

afterEach(() => vi.unstubAllGlobals());

const TRAIN = 'examples.first_pipeline.pipeline';
const ETL = 'jobs.etl.main';

function Where(): ReactElement {
  return <p data-testid="where">{useLocation().pathname}</p>;
}

function renderPage(feed: FakeFeed): void {
  render(
    <MemoryRouter initialEntries={['/pipelines']}>
      <LiveEventsProvider subscribe={feed.subscribe}>
        <Routes>
          <Route path="/pipelines" element={<PipelinesPage />} />
          <Route path="*" element={<Where />} />
        </Routes>
      </LiveEventsProvider>
    </MemoryRouter>,
  );
}

describe('PipelinesPage', () => {
  let trainRuns: Run[];
  beforeEach(() => {
    const states: FutureState[] = ['RESOLVED', 'FAILED', 'RESOLVED', 'CANCELED', 'RESOLVED'];
    trainRuns = states.map((s, i) =>
      makeRun({ id: `t${i}`, future_state: s, tags: i === 0 ? ['nightly'] : [], name: 'pipeline' }),
    );
  });

  function serve(): ReturnType<typeof mockFetch> {
    return mockFetch((url) => {
      if (url.pathname === '/api/v1/runs' && url.searchParams.get('group_by') === 'function_path')
        return runsPage([trainRuns[0], makeRun({ id: 'e0', function_path: ETL, name: 'main' })]);
      if (url.pathname === '/api/v1/runs') {
        const fp = JSON.stringify(url.searchParams.get('filters'));
        return runsPage(fp.includes(TRAIN) ? trainRuns : [makeRun({ id: 'e0', function_path: ETL, name: 'main' })]);
      }
      if (url.pathname === '/api/v1/runs/t0/metrics')
        return {
          content: {
            avg_runtime_children: { [TRAIN]: 184, [`${TRAIN}.inner`]: 1 },
            count_by_state: { RESOLVED: 30, FAILED: 9, NESTED_FAILED: 1, CANCELED: 5, RAN: 2 },
            total_count: 47,
          },
        };
      if (url.pathname === '/api/v1/runs/e0/metrics')
        return jsonResponse({ error: "No runs with id 'e0'" }, 404);
      return jsonResponse({ error: 'unexpected' }, 500);
    });
  }

  it('lists each pipeline with its counts, rates and last five runs', async () => {
    const f = serve();
    renderPage(fakeFeed());
    const row = await screen.findByText((_, el) => el?.getAttribute('data-function-path') === TRAIN);
    const index = f.calls.find((c) => c.url.searchParams.get('group_by') === 'function_path');
    expect(filtersOf(index!)).toEqual({ parent_id: { eq: null } });
    await waitFor(() => expect(within(row).getAllByTestId('state-chip')).toHaveLength(5));
    expect(within(row).getAllByTestId('state-chip').map((c) => c.dataset.state)).toEqual([
      'RESOLVED',
      'FAILED',
      'RESOLVED',
      'CANCELED',
      'RESOLVED',
    ]);
    await waitFor(() => expect(row.textContent).toContain('47'));
    expect(row.textContent).toContain('3m 04s');
    expect(row.textContent).toContain('75%'); // 30 of 40 finished: canceled and running left out
    expect(row.textContent).toContain('nightly');
    expect(row.textContent).toContain(TRAIN);
    const latest = f.calls.find(
      (c) => c.url.searchParams.get('limit') === '5' && JSON.stringify(filtersOf(c)).includes(TRAIN),
    );
    expect(filtersOf(latest!)).toEqual({ AND: [{ parent_id: { eq: null } }, { function_path: { eq: TRAIN } }] });
  });

  it("opens a pipeline's page on a row click", async () => {
    serve();
    renderPage(fakeFeed());
    const rows = await screen.findAllByTestId('pipeline-row');
    fireEvent.click(rows[0].querySelector('td:nth-child(3)')!);
    expect(screen.getByTestId('where').textContent).toBe(`/pipeline/${TRAIN}`);
  });

  it('reads a pipeline again when the feed says one of its runs changed, once per frame', async () => {
    const f = serve();
    const feed = fakeFeed();
    renderPage(feed);
    const row = (await screen.findAllByTestId('pipeline-row'))[0];
    await waitFor(() => expect(within(row).getAllByTestId('state-chip')).toHaveLength(5));
    const before = f.callsTo('/api/v1/runs/t0/metrics').length;

    trainRuns = [makeRun({ id: 't9', future_state: 'RAN' }), ...trainRuns.slice(0, 4)];
    act(() => {
      feed.emit('pipeline_status', {
        root_id: 't0',
        status: 'RUNNING',
        created_at: '',
        updated_at: '',
        ended_at: null,
      });
      feed.emit('pipeline_status', {
        root_id: 't1',
        status: 'RUNNING',
        created_at: '',
        updated_at: '',
        ended_at: null,
      });
    });
    await waitFor(() => expect(within(row).getAllByTestId('state-chip')[0].dataset.state).toBe('RAN'));
    expect(f.callsTo('/api/v1/runs/t0/metrics').length).toBe(before + 1);
    expect(f.callsTo('/api/v1/runs/e0/metrics').length).toBe(1);
  });

  it('reads the index again for a pipeline run it has not seen', async () => {
    const f = serve();
    const feed = fakeFeed();
    renderPage(feed);
    await screen.findAllByTestId('pipeline-row');
    const grouped = (): number => f.calls.filter((c) => c.url.searchParams.get('group_by') !== null).length;
    expect(grouped()).toBe(1);
    act(() => feed.emit('runs', { runs: [{ ...makeRun({ id: 'new1', function_path: 'new.pipe' }) }] }));
    await waitFor(() => expect(grouped()).toBe(2));
  });

  it('says why the index could not be read', async () => {
    mockFetch(() => jsonResponse({ error: 'the store is locked; retry' }, 503));
    renderPage(fakeFeed());
    expect((await screen.findByRole('alert')).textContent).toContain('the store is locked; retry');
  });
});
