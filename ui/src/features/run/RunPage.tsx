import { useCallback, useEffect, useMemo, useState, type ReactElement } from 'react';
import { useLocation, useNavigate, useParams } from 'react-router-dom';
import { EventHub } from '../../api/eventHub';
import { useReportLiveStatus } from '../../api/LiveEvents';
import { ErrorBoundary } from '../../app/ErrorBoundary';
import { ancestorsOf, layoutInputOf, stateAt } from '../graph/graphModel';
import { GraphView } from '../graph/GraphView';
import { useGraphModel } from '../graph/useGraphModel';
import { useLayout } from '../graph/useLayout';
import { RunPanel } from './RunPanel';
import { RunTabs } from './RunTabs';
import { formatHash, parseHash, type Tab } from './viewState';
import './run.css';

/** `/runs/:rootId#run=<id>&tab=<tab>`: one pipeline run's graph and the selected run's details. */
export function RunPage(): ReactElement {
  const { rootId = '' } = useParams();
  return <RunPageFor key={rootId} rootId={rootId} />;
}

function RunPageFor({ rootId }: { rootId: string }): ReactElement {
  const location = useLocation();
  const navigate = useNavigate();
  const view = parseHash(location.hash);
  const selectedId = view.run ?? rootId;
  const hub = useMemo(() => new EventHub(), []);
  const graph = useGraphModel(rootId, hub);
  const model = graph.model;
  // This page reads its own stream (one per pipeline run): the top bar shows its state.
  useReportLiveStatus(graph.loading ? null : graph.live);
  const [expanded, setExpanded] = useState<ReadonlySet<number>>(() => new Set());

  const setView = useCallback(
    (run: string | null, tab: Tab, replace = false): void => {
      navigate({ hash: formatHash({ run, tab }) }, { replace });
    },
    [navigate],
  );
  const select = useCallback((runId: string) => setView(runId, view.tab), [setView, view.tab]);
  const toggle = useCallback((i: number) => {
    setExpanded((s) => {
      const next = new Set(s);
      if (next.has(i)) next.delete(i);
      else next.add(i);
      return next;
    });
  }, []);

  const selectedIndex = model?.index.get(selectedId) ?? null;
  // A run selected inside collapsed compounds opens them.
  useEffect(() => {
    if (model === null || selectedIndex === null) return;
    const anc = ancestorsOf(model, selectedIndex).filter((a) => model.parent[a] >= 0);
    if (anc.every((a) => expanded.has(a))) return;
    setExpanded((s) => new Set([...s, ...anc]));
  }, [model, selectedIndex, expanded]);

  const li = useMemo(() => (model === null ? null : layoutInputOf(model, expanded)), [model, expanded]);
  const { layout, error: layoutError } = useLayout(li?.key ?? null, li?.input ?? null);
  const selectedState = model !== null && selectedIndex !== null ? stateAt(model, selectedIndex) : null;

  return (
    <div className="run-page">
      <section className="run-graph-region">
        <ErrorBoundary region="graph">
          {graph.error !== null ? (
            <div className="error-box" role="alert">
              <strong>The graph could not be read.</strong>
              <pre>{graph.error.message}</pre>
            </div>
          ) : layoutError !== null ? (
            <div className="error-box" role="alert">
              <strong>The graph could not be laid out.</strong>
              <pre>{layoutError.message}</pre>
            </div>
          ) : model === null || layout === null ? (
            <div className="graph-loading" data-testid="run-graph" data-ready="false">
              Loading the graph…
            </div>
          ) : (
            <GraphView model={model} layout={layout} selected={selectedIndex} onSelect={select} onToggle={toggle} />
          )}
        </ErrorBoundary>
      </section>
      <aside className="run-side">
        <ErrorBoundary region="run panel">
          <RunPanel rootId={rootId} runId={selectedId} liveState={selectedState} hub={hub} />
        </ErrorBoundary>
        <ErrorBoundary region="tabs">
          <RunTabs
            rootId={rootId}
            runId={selectedId}
            liveState={selectedState}
            tab={view.tab}
            hub={hub}
            onTab={(t) => setView(view.run, t, true)}
          />
        </ErrorBoundary>
      </aside>
    </div>
  );
}
