import type { ReactElement } from 'react';
import { useParams } from 'react-router-dom';

/** `/runs/:rootId`: one pipeline run's graph and the selected run's details. */
export function RunPage(): ReactElement {
  const { rootId } = useParams();
  return <h1>Run {rootId}</h1>;
}
