import { render, screen, waitFor } from '@testing-library/react';
import type { ReactElement } from 'react';
import { ApiError } from './http';
import { useResource } from './useResource';

function Probe({ id, load }: { id: string | null; load: (s: AbortSignal) => Promise<string> }): ReactElement {
  const r = useResource(id, load);
  return (
    <p data-testid="probe">
      {r.loading ? 'loading' : 'idle'}|{r.data ?? ''}|{r.error?.message ?? ''}
    </p>
  );
}

describe('useResource', () => {
  it('goes from loading to the data, and to the error of a failure', async () => {
    const { rerender } = render(<Probe id="a" load={() => Promise.resolve('A')} />);
    expect(screen.getByTestId('probe').textContent).toBe('loading||');
    await waitFor(() => expect(screen.getByTestId('probe').textContent).toBe('idle|A|'));
    rerender(<Probe id="b" load={() => Promise.reject(new ApiError(404, "No runs with id 'b'"))} />);
    await waitFor(() => expect(screen.getByTestId('probe').textContent).toBe("idle||No runs with id 'b'"));
  });

  it('aborts the request when the component goes', () => {
    let signal: AbortSignal | null = null;
    const { unmount } = render(
      <Probe
        id="a"
        load={(s) => {
          signal = s;
          return new Promise(() => undefined);
        }}
      />,
    );
    expect(signal!.aborted).toBe(false);
    unmount();
    expect(signal!.aborted).toBe(true);
  });
});
