/**
 * The run page against a fake server: the dag of fixtures/types_pipeline.py's
 * shape (helpers included), runs read from our server (fixtures/*.json), and
 * an event stream that fails a run and completes the pipeline.
 */
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import type { DagPayload } from '../../api/dag';
import type { Run } from '../../api/types';
import failedRun from './fixtures/failed-run.json';
import rootRun from './fixtures/root-run.json';
import { RunPage } from './RunPage';
import { splitException } from './RunPanel';

const ROOT = (rootRun as unknown as Run).id;
const FAILED = failedRun as unknown as Run;
const CHILD = FAILED.id;

const DAG: DagPayload = {
  root_id: ROOT,
  change_seq: 7,
  states: ['RAN', 'RESOLVED', 'SCHEDULED'],
  names: ['pipeline', 'fail', '_make_list', 'nested', 'inner'],
  functions: ['__main__.pipeline', '__main__.fail', 'sematic.function._make_list', '__main__.nested', '__main__.inner'],
  runs: {
    id: [ROOT, CHILD, 'helper', 'nested', 'inner'],
    parent: [-1, 0, 0, 0, 3],
    name: [0, 1, 2, 3, 4],
    function: [0, 1, 2, 3, 4],
    state: [0, 2, 1, 0, 0],
  },
  edges: [1, 2, 2, 3],
};

function sse(chunks: string[]): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const s of chunks) c.enqueue(enc.encode(s));
      // Left open, as the server keeps it.
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

function json(v: unknown, status = 200): Response {
  return new Response(JSON.stringify(v), { status, headers: { 'Content-Type': 'application/json' } });
}

let releaseEvents: () => void = () => {};
const calls: { method: string; url: string; body: unknown }[] = [];

function fakeServer(url: string, init?: RequestInit): Promise<Response> {
  const u = new URL(url, 'http://x');
  const method = init?.method ?? 'GET';
  calls.push({ method, url: u.pathname + u.search, body: init?.body === undefined ? undefined : JSON.parse(String(init.body)) });
  const p = u.pathname;
  if (p === `/api/v1/runs/${ROOT}/dag`) return Promise.resolve(json(DAG));
  if (p === `/api/v1/runs/${ROOT}`) return Promise.resolve(json({ content: rootRun }));
  if (p === `/api/v1/runs/${CHILD}`) return Promise.resolve(json({ content: { ...FAILED, root_id: ROOT } }));
  if (p === `/api/v1/resolutions/${ROOT}`) return Promise.resolve(json({ content: { root_id: ROOT, status: 'RUNNING' } }));
  if (p === `/api/v1/resolutions/${ROOT}/rerun`) return Promise.resolve(json({ error: 'rerun needs a container image' }, 400));
  if (p === '/api/v1/edges') return Promise.resolve(json({ content: [] }));
  if (p === '/api/v1/events') {
    expect(u.searchParams.get('after')).toBe('7');
    expect(u.searchParams.get('root_id')).toBe(ROOT);
    return new Promise((resolve) => {
      releaseEvents = () =>
        resolve(
          sse([
            'retry: 3000\nid: 7\nevent: start\ndata: {"after":7}\n\n',
            `event: runs\ndata: {"runs":[${JSON.stringify({ ...FAILED, root_id: ROOT, parent_id: ROOT })}]}\n\n`,
            `id: 8\nevent: pipeline_status\ndata: {"root_id":"${ROOT}","status":"FAILED","created_at":"","updated_at":"","ended_at":null}\n\n`,
          ]),
        );
    });
  }
  return Promise.resolve(json({ error: `no endpoint for ${method} '${p}'` }, 404));
}

function Hash(): React.ReactElement {
  return <span data-testid="hash">{useLocation().hash}</span>;
}

function renderPage(hash = ''): void {
  render(
    <MemoryRouter initialEntries={[`/runs/${ROOT}${hash}`]}>
      <Routes>
        <Route
          path="/runs/:rootId"
          element={
            <>
              <RunPage />
              <Hash />
            </>
          }
        />
      </Routes>
    </MemoryRouter>,
  );
}

beforeEach(() => {
  calls.length = 0;
  vi.stubGlobal('fetch', vi.fn(fakeServer));
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe('RunPage', () => {
  it('draws the graph with helpers hidden and nested runs collapsed, then follows the events', async () => {
    renderPage();
    await waitFor(() => expect(screen.getByTestId('run-graph').getAttribute('data-ready')).toBe('true'));
    const graph = screen.getByTestId('run-graph');
    expect(graph.getAttribute('data-render-mode')).toBe('dom');
    expect(graph.getAttribute('data-node-count')).toBe('3');
    const ids = screen.getAllByTestId('dag-node').map((n) => n.getAttribute('data-run-id'));
    expect(ids).toEqual([ROOT, CHILD, 'nested']);
    const nested = screen.getAllByTestId('dag-node')[2];
    expect(nested.getAttribute('data-compound')).toBe('true');
    expect(window.__sematicGraph?.stats().nodes).toBe(3);

    // Expanding the compound shows its run.
    fireEvent.click(within(nested).getByTestId('dag-expand'));
    await waitFor(() => expect(screen.getAllByTestId('dag-node')).toHaveLength(4));

    // The root is selected by default.
    await waitFor(() => expect(screen.getByTestId('run-name').textContent).toBe('pipeline'));
    expect(screen.getByTestId('run-docstring').textContent).toContain('Every type once.');
    expect(screen.getByTestId('pipeline-status').textContent).toBe('RUNNING');

    // Events: the run fails, the pipeline fails.
    await act(async () => {
      releaseEvents();
      await new Promise((r) => setTimeout(r, 50));
    });
    await waitFor(() => expect(document.querySelector(`[data-run-id="${CHILD}"]`)?.getAttribute('data-state')).toBe('FAILED'));
    await waitFor(() => expect(screen.getByTestId('pipeline-status').textContent).toBe('FAILED'));
    expect((screen.getByTestId('cancel-run') as HTMLButtonElement).disabled).toBe(true);
  });

  it('selects a run on click, shows its exception, and the rerun error', async () => {
    renderPage('#tab=source');
    const node = await waitFor(() => {
      const n = document.querySelector<HTMLElement>(`[data-testid=dag-node][data-run-id="${CHILD}"]`);
      expect(n).not.toBeNull();
      return n!;
    });
    fireEvent.click(node);
    await waitFor(() => expect(screen.getByTestId('hash').textContent).toBe(`#run=${CHILD}&tab=source`));
    await waitFor(() => expect(screen.getByTestId('run-name').textContent).toBe('fail'));
    expect(node.className).toContain('selected');
    const ex = screen.getByTestId('run-exception');
    expect(ex.textContent).toContain('ValueError');
    expect(ex.textContent).toContain('bad value 3');
    expect(ex.textContent).toContain('Traceback (most recent call last)');
    expect(screen.getByRole('tab', { name: 'Source' }).getAttribute('aria-selected')).toBe('true');
    await waitFor(() => expect(screen.getByRole('tabpanel').textContent).toContain('raise ValueError'));

    fireEvent.click(screen.getByTestId('rerun-from-here'));
    await waitFor(() => expect(screen.getByTestId('action-error').textContent).toBe('rerun needs a container image'));
    const rerun = calls.find((c) => c.url.endsWith('/rerun'));
    expect(rerun?.method).toBe('POST');
    expect(rerun?.body).toEqual({ rerun_from: CHILD });

    // The tab is in the URL.
    fireEvent.click(screen.getByRole('tab', { name: 'Inputs' }));
    await waitFor(() => expect(screen.getByTestId('hash').textContent).toBe(`#run=${CHILD}&tab=inputs`));
    await waitFor(() => expect(screen.getByRole('tabpanel').textContent).toContain('This run has no inputs.'));
  });

  it('selecting through the test hook opens the compound holding the run', async () => {
    renderPage();
    await screen.findAllByTestId('dag-node');
    act(() => window.__sematicGraph?.select('inner'));
    await waitFor(() => expect(document.querySelector('[data-testid=dag-node][data-run-id="inner"]')).not.toBeNull());
    expect(screen.getByTestId('hash').textContent).toBe('#run=inner&tab=inputs');
  });
});

describe('splitException', () => {
  it('reads the traceback Sematic stores in repr', () => {
    const e = splitException(FAILED.exception_metadata_json!);
    expect(e.type).toBe('ValueError');
    expect(e.message).toBe('bad value 3');
    expect(e.traceback).toContain('File "/tmp/h3/types_pipeline.py"');
    expect(splitException({ name: 'Boom', module: 'my.mod', repr: 'it broke', ancestors: [] })).toEqual({
      type: 'my.mod.Boom',
      message: 'it broke',
      traceback: null,
    });
  });
});
