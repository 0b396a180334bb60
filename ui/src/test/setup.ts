/**
 * Vitest's setup for the component tests (jsdom). jsdom has no 2-D canvas:
 * its getContext logs "Not implemented" and answers null. Answer null
 * quietly, as a browser without canvas support would; the graph then draws
 * its nodes only, which is what the component tests look at.
 */
HTMLCanvasElement.prototype.getContext = function getContext(): null {
  return null;
} as unknown as typeof HTMLCanvasElement.prototype.getContext;
