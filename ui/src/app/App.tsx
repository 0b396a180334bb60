import type { ReactElement } from 'react';
import { BrowserRouter, NavLink, Navigate, Route, Routes } from 'react-router-dom';
import { PipelinePage } from '../features/pipelines/PipelinePage';
import { PipelinesPage } from '../features/pipelines/PipelinesPage';
import { RunPage } from '../features/run/RunPage';
import { RunsPage } from '../features/runs/RunsPage';
import { ErrorBoundary } from './ErrorBoundary';

/** The dashboard's shell: the top bar and one route per page, each in its own error boundary. */
export function App(): ReactElement {
  return (
    <BrowserRouter>
      <header className="topbar">
        <NavLink to="/pipelines" className="brand">
          Sematic
        </NavLink>
        <nav>
          <NavLink to="/pipelines">Pipelines</NavLink>
          <NavLink to="/runs">Runs</NavLink>
        </nav>
      </header>
      <main>
        <ErrorBoundary region="page">
          <Routes>
            <Route path="/" element={<Navigate to="/pipelines" replace />} />
            <Route path="/pipelines" element={<PipelinesPage />} />
            <Route path="/pipeline/:functionPath" element={<PipelinePage />} />
            <Route path="/runs" element={<RunsPage />} />
            <Route path="/runs/:rootId" element={<RunPage />} />
            <Route path="*" element={<p>No page here.</p>} />
          </Routes>
        </ErrorBoundary>
      </main>
    </BrowserRouter>
  );
}
