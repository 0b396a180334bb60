/**
 * The layout off the main thread, for big graphs: the page posts
 * `{id, input}` and gets `{id, layout}` back, its arrays transferred.
 */
import { layoutGraph, layoutTransferables, type Layout, type LayoutInput } from './layout';

export interface LayoutRequest {
  id: number;
  input: LayoutInput;
}

export interface LayoutResponse {
  id: number;
  layout?: Layout;
  error?: string;
}

const scope = self as unknown as DedicatedWorkerGlobalScope;

scope.onmessage = (ev: MessageEvent<LayoutRequest>): void => {
  const { id, input } = ev.data;
  try {
    const layout = layoutGraph(input);
    scope.postMessage({ id, layout } satisfies LayoutResponse, layoutTransferables(layout));
  } catch (e) {
    scope.postMessage({ id, error: String(e) } satisfies LayoutResponse);
  }
};
