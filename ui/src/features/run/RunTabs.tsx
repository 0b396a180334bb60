import type { KeyboardEvent, ReactElement } from 'react';
import type { EventHub } from '../../api/eventHub';
import type { FutureState } from '../../api/types';
import { ErrorBoundary } from '../../app/ErrorBoundary';
import { ArtifactsTab } from '../artifacts/ArtifactsTab';
import { LogsTab } from '../logs/LogsTab';
import { NotesTab } from '../notes/NotesTab';
import { SourceTab } from './SourceTab';
import { TABS, type Tab } from './viewState';

const LABELS: Record<Tab, string> = { inputs: 'Inputs', outputs: 'Outputs', source: 'Source', logs: 'Logs', notes: 'Notes' };

interface RunTabsProps {
  rootId: string;
  runId: string;
  liveState: FutureState | null;
  tab: Tab;
  hub: EventHub;
  onTab(tab: Tab): void;
}

/** Inputs, Outputs, Source, Logs, Notes of the selected run; the open one is in the URL. */
export function RunTabs({ rootId, runId, liveState, tab, hub, onTab }: RunTabsProps): ReactElement {
  const onKey = (e: KeyboardEvent): void => {
    const i = TABS.indexOf(tab);
    if (e.key === 'ArrowRight') onTab(TABS[(i + 1) % TABS.length]);
    else if (e.key === 'ArrowLeft') onTab(TABS[(i + TABS.length - 1) % TABS.length]);
  };
  return (
    <div className="run-tabs">
      <div role="tablist" aria-label="Run details" onKeyDown={onKey}>
        {TABS.map((t) => (
          <button
            key={t}
            type="button"
            role="tab"
            id={`tab-${t}`}
            aria-selected={t === tab}
            aria-controls={`tabpanel-${t}`}
            tabIndex={t === tab ? 0 : -1}
            onClick={() => onTab(t)}
          >
            {LABELS[t]}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`tabpanel-${tab}`} aria-labelledby={`tab-${tab}`} className="tab-body">
        <ErrorBoundary region={`${LABELS[tab]} tab`} key={`${tab}:${runId}`}>
          {tab === 'inputs' && <ArtifactsTab runId={runId} direction="inputs" liveState={liveState} />}
          {tab === 'outputs' && <ArtifactsTab runId={runId} direction="outputs" liveState={liveState} />}
          {tab === 'source' && <SourceTab runId={runId} />}
          {tab === 'logs' && <LogsTab runId={runId} hub={hub} />}
          {tab === 'notes' && <NotesTab rootId={rootId} runId={runId} hub={hub} />}
        </ErrorBoundary>
      </div>
    </div>
  );
}
