import { createFrameBatch } from './frameBatch';

describe('createFrameBatch', () => {
  it('hands everything pushed in one frame to one flush, in order', async () => {
    const flush = vi.fn();
    const b = createFrameBatch<number>(flush);
    for (let i = 0; i < 1000; i++) b.push(i);
    expect(flush).not.toHaveBeenCalled();
    await new Promise((r) => requestAnimationFrame(() => r(null)));
    await new Promise((r) => setTimeout(r, 20));
    expect(flush).toHaveBeenCalledTimes(1);
    expect(flush.mock.calls[0][0]).toHaveLength(1000);
    expect(flush.mock.calls[0][0][999]).toBe(999);
  });

  it('drops what is pending on cancel', async () => {
    const flush = vi.fn();
    const b = createFrameBatch<number>(flush);
    b.push(1);
    b.cancel();
    await new Promise((r) => setTimeout(r, 40));
    expect(flush).not.toHaveBeenCalled();
  });
});
