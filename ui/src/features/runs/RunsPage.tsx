import type { ReactElement } from 'react';

/** `/runs`: search every run. */
export function RunsPage(): ReactElement {
  return <h1>Runs</h1>;
}
