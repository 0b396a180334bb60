import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import type { ReactElement } from 'react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import { LiveEventsProvider } from '../../api/LiveEvents';
import { fakeFeed, filtersOf, makeRun, mockFetch, runsPage } from '../../api/testUtils';
import { PipelinePage } from './PipelinePage';

afterEach(() => vi.unstubAllGlobals());

const FP = 'examples.first_pipeline.pipeline';

function Where(): ReactElement {
  const l = useLocation();
  return <p data-testid="where">{l.pathname + l.search}</p>;
}

describe('PipelinePage', () => {
  it("lists the pipeline's runs page by page, each leading to its run page, kept current", async () => {
    const first = [makeRun({ id: 'r2', future_state: 'RAN' }), makeRun({ id: 'r1' })];
    const second = [makeRun({ id: 'r0', future_state: 'FAILED' })];
    const f = mockFetch((url) => {
      if (url.pathname.endsWith('/metrics'))
        return { content: { avg_runtime_children: { [FP]: 2 }, count_by_state: { RESOLVED: 2, FAILED: 1 }, total_count: 3 } };
      return url.searchParams.get('cursor') === 'CUR1' ? runsPage(second, null, 1) : runsPage(first, 'CUR1', 3);
    });
    const feed = fakeFeed();
    render(
      <MemoryRouter initialEntries={[`/pipeline/${FP}`]}>
        <LiveEventsProvider subscribe={feed.subscribe}>
          <Routes>
            <Route path="/pipeline/:functionPath" element={<><PipelinePage /><Where /></>} />
            <Route path="*" element={<Where />} />
          </Routes>
        </LiveEventsProvider>
      </MemoryRouter>,
    );
    const rows = await screen.findAllByTestId('run-row');
    expect(rows.map((r) => r.dataset.runId)).toEqual(['r2', 'r1']);
    expect(filtersOf(f.callsTo('/api/v1/runs')[0])).toEqual({
      AND: [{ parent_id: { eq: null } }, { function_path: { eq: FP } }],
    });
    expect((await screen.findByTestId('pipeline-metrics')).textContent).toContain('67%');

    act(() => feed.emit('runs', { runs: [{ ...first[0], future_state: 'RESOLVED' }] }));
    await waitFor(() => expect(screen.getAllByTestId('run-row')[0].dataset.state).toBe('RESOLVED'));

    fireEvent.click(screen.getByTestId('next-page'));
    await waitFor(() => expect(screen.getAllByTestId('run-row').map((r) => r.dataset.runId)).toEqual(['r0']));
    expect((screen.getByTestId('next-page') as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(screen.getByTestId('previous-page'));
    await waitFor(() => expect(screen.getAllByTestId('run-row').map((r) => r.dataset.runId)).toEqual(['r2', 'r1']));

    fireEvent.click(screen.getAllByTestId('run-row')[1].querySelector('td:nth-child(3)')!);
    expect(screen.getByTestId('where').textContent).toBe('/runs/r1');
  });
});
