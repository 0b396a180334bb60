import { act, render, screen, waitFor } from '@testing-library/react';
import { useState, type ReactElement } from 'react';
import { LiveEventsProvider, useLiveEvents, useLiveStatus, type LiveEvent } from './LiveEvents';
import { fakeFeed } from './testUtils';

function Status(): ReactElement {
  return <p data-testid="status">{useLiveStatus()}</p>;
}

function Counter({ onFrame }: { onFrame: (events: LiveEvent[]) => void }): ReactElement {
  useLiveEvents(onFrame);
  return <p>listening</p>;
}

function Toggle({ onFrame }: { onFrame: (events: LiveEvent[]) => void }): ReactElement {
  const [on, setOn] = useState(true);
  return (
    <>
      <button type="button" onClick={() => setOn(false)}>
        stop
      </button>
      {on && <Counter onFrame={onFrame} />}
    </>
  );
}

describe('LiveEventsProvider', () => {
  it('holds the stream only while someone listens, and hands over a frame of events at once', async () => {
    const feed = fakeFeed();
    const subscribe = vi.fn(feed.subscribe);
    const onFrame = vi.fn();
    render(
      <LiveEventsProvider subscribe={subscribe}>
        <Status />
        <Toggle onFrame={onFrame} />
      </LiveEventsProvider>,
    );
    expect(subscribe).toHaveBeenCalledTimes(1);
    expect(subscribe.mock.calls[0][0]).toEqual({ kinds: ['runs', 'pipeline_status'] });
    expect(screen.getByTestId('status').textContent).toBe('live');

    act(() => {
      for (let i = 0; i < 50; i++)
        feed.emit('pipeline_status', { root_id: `r${i}`, status: 'RUNNING', created_at: '', updated_at: '', ended_at: null }, i);
    });
    await waitFor(() => expect(onFrame).toHaveBeenCalledTimes(1));
    expect(onFrame.mock.calls[0][0]).toHaveLength(50);
    expect(onFrame.mock.calls[0][0][49]).toMatchObject({ name: 'pipeline_status', seq: 49 });

    act(() => screen.getByRole('button', { name: 'stop' }).click());
    expect(screen.getByTestId('status').textContent).toBe('idle');
    act(() => feed.emit('runs', { reload: true }));
    await new Promise((r) => setTimeout(r, 40));
    expect(onFrame).toHaveBeenCalledTimes(1);
  });
});
