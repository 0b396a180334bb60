import type { ReactElement } from 'react';
import { useParams } from 'react-router-dom';

/** `/pipeline/:functionPath`: the runs of one pipeline. */
export function PipelinePage(): ReactElement {
  const { functionPath } = useParams();
  return <h1>{functionPath}</h1>;
}
