import type { ReactElement } from 'react';

/** `/pipelines`: root runs grouped by pipeline (API.md §7). */
export function PipelinesPage(): ReactElement {
  return <h1>Pipelines</h1>;
}
