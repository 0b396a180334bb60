import { act, fireEvent, render, screen } from '@testing-library/react';
import { CopyButton } from './CopyButton';

describe('CopyButton', () => {
  it('puts the text on the clipboard, says so, and does not click through to its row', async () => {
    const writeText = vi.fn().mockResolvedValue(undefined);
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    const rowClick = vi.fn();
    render(
      <div onClick={rowClick}>
        <CopyButton text="abc123" label="Copy run id" testId="copy-id" />
      </div>,
    );
    const button = screen.getByTestId('copy-id');
    expect(button.querySelector('svg')).not.toBeNull();
    await act(async () => {
      fireEvent.click(button);
    });
    expect(writeText).toHaveBeenCalledWith('abc123');
    expect(button.textContent).toBe('✓');
    expect(rowClick).not.toHaveBeenCalled();
    expect(screen.getByRole('button', { name: 'Copy run id' })).toBe(button);
  });
});
