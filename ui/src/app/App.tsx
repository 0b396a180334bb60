import type { ReactElement, ReactNode } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { LiveEventsProvider } from '../api/LiveEvents';
import { PipelinePage } from '../features/pipelines/PipelinePage';
import { PipelinesPage } from '../features/pipelines/PipelinesPage';
import { RunPage } from '../features/run/RunPage';
import { RunsPage } from '../features/runs/RunsPage';
import { AuthGate } from './AuthGate';
import { ErrorBoundary } from './ErrorBoundary';
import { TopBar } from './TopBar';

/** A page in its own error boundary, reset when the path changes. */
function Page({ region, children }: { region: string; children: ReactNode }): ReactElement {
  const { pathname } = useLocation();
  return (
    <ErrorBoundary region={region} key={pathname}>
      {children}
    </ErrorBoundary>
  );
}

/** The routes and the top bar, without the router (tests give a MemoryRouter). */
export function AppRoutes(): ReactElement {
  return (
    <AuthGate>
      <LiveEventsProvider>
        <ErrorBoundary region="top bar">
          <TopBar />
        </ErrorBoundary>
        <main>
          <Routes>
            <Route path="/" element={<Navigate to="/pipelines" replace />} />
            <Route path="/pipelines" element={<Page region="pipelines page"><PipelinesPage /></Page>} />
            <Route path="/pipeline/:functionPath" element={<Page region="pipeline page"><PipelinePage /></Page>} />
            <Route path="/runs" element={<Page region="runs page"><RunsPage /></Page>} />
            <Route path="/runs/:rootId" element={<Page region="run page"><RunPage /></Page>} />
            <Route path="*" element={<p>No page here. <a href="/pipelines">Pipelines</a></p>} />
          </Routes>
        </main>
      </LiveEventsProvider>
    </AuthGate>
  );
}

/** The dashboard's shell: the top bar and one route per page, each in its own error boundary. */
export function App(): ReactElement {
  return (
    <BrowserRouter>
      <AppRoutes />
    </BrowserRouter>
  );
}
