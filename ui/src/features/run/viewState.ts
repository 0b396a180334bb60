/**
 * The run page's view state in the URL hash: `#run=<id>&tab=<tab>`
 * (ui/README.md), so a link opens the same run and tab.
 */
export const TABS = ['inputs', 'outputs', 'source', 'logs', 'notes'] as const;
export type Tab = (typeof TABS)[number];

export interface RunViewState {
  run: string | null;
  tab: Tab;
}

export function isTab(v: string | null): v is Tab {
  return v !== null && (TABS as readonly string[]).includes(v);
}

export function parseHash(hash: string): RunViewState {
  const p = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const tab = p.get('tab');
  const run = p.get('run');
  return { run: run === null || run === '' ? null : run, tab: isTab(tab) ? tab : 'inputs' };
}

export function formatHash(s: RunViewState): string {
  const p = new URLSearchParams();
  if (s.run !== null) p.set('run', s.run);
  p.set('tab', s.tab);
  return `#${p.toString()}`;
}
