import { useEffect, useRef, useState, type MouseEvent, type ReactElement } from 'react';
import './components.css';

interface CopyButtonProps {
  /** The text put on the clipboard. */
  text: string;
  /** What is copied, for the button's accessible name ("Copy run id"). */
  label?: string;
  /** `data-testid`; `copy` unless given (the run page uses `copy-id`). */
  testId?: string;
}

async function writeClipboard(text: string): Promise<void> {
  if (navigator.clipboard?.writeText !== undefined) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Pages served over plain HTTP from another host have no Clipboard API.
  const area = document.createElement('textarea');
  area.value = text;
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  try {
    document.execCommand('copy');
  } finally {
    area.remove();
  }
}

function CopyIcon(): ReactElement {
  return (
    <svg width="12" height="12" viewBox="0 0 16 16" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5">
      <rect x="5.5" y="5.5" width="8" height="9" rx="1.5" />
      <path d="M10.5 3.5v-1a1 1 0 0 0-1-1h-6a1 1 0 0 0-1 1v8a1 1 0 0 0 1 1h1" />
    </svg>
  );
}

/** A small button that copies `text` and says so for a moment. */
export function CopyButton({ text, label = 'Copy', testId = 'copy' }: CopyButtonProps): ReactElement {
  const [copied, setCopied] = useState<'no' | 'yes' | 'failed'>('no');
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const onClick = (e: MouseEvent): void => {
    e.stopPropagation();
    e.preventDefault();
    writeClipboard(text).then(
      () => setCopied('yes'),
      () => setCopied('failed'),
    );
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setCopied('no'), 1500);
  };
  return (
    <button
      type="button"
      className="copy-button"
      data-testid={testId}
      aria-label={label}
      title={copied === 'failed' ? 'Could not copy' : label}
      onClick={onClick}
    >
      {copied === 'yes' ? '✓' : copied === 'failed' ? '✗' : <CopyIcon />}
    </button>
  );
}
