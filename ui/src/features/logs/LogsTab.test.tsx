import { render, screen, waitFor, act } from '@testing-library/react';
import { EventHub } from '../../api/eventHub';
import { mockFetch } from '../../api/testUtils';
import { LogsTab } from './LogsTab';
import { ROW_PX } from './logWindow';

const RUN = 'a'.repeat(32);

afterEach(() => vi.unstubAllGlobals());

describe('LogsTab', () => {
  it('draws only the lines in view of a long log, and adds live lines to it', async () => {
    const n = 5000;
    mockFetch(() => ({
      content: {
        can_continue_backward: false,
        can_continue_forward: true,
        forward_cursor_token: null,
        reverse_cursor_token: null,
        line_ids: Array.from({ length: n }, (_, i) => i + 1),
        lines: Array.from({ length: n }, (_, i) => `line ${i + 1}`),
        log_info_message: null,
      },
    }));
    const hub = new EventHub();
    render(<LogsTab runId={RUN} hub={hub} />);
    await waitFor(() => expect(screen.getAllByTestId('log-line').length).toBeGreaterThan(0));
    const drawn = screen.getAllByTestId('log-line');
    expect(drawn.length).toBeLessThan(200);
    const rows = (): HTMLElement => document.querySelector('.log-rows') as HTMLElement;
    expect(rows().style.height).toBe(`${n * ROW_PX}px`);
    act(() => {
      hub.emit(
        'logs',
        { run_id: RUN, root_id: RUN, lines: [{ id: n + 1, stream: 'stdout', ts: '', text: 'the newest line' }], more: false },
        null,
      );
    });
    await waitFor(() => expect(rows().style.height).toBe(`${(n + 1) * ROW_PX}px`));
    expect(screen.getAllByTestId('log-line').length).toBeLessThan(200);
  });
});
