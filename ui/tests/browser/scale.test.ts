/// <reference lib="dom" />
/**
 * The run page of a fan-out of 100,000 steps (SEMATIC_BROWSER_FANOUT): it loads, paints and
 * answers within generous bounds. How fast it does so is bench/ui_paint.py's business.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GRAPH, openRunPage, waitText, withPage } from './dashboard';
import { connectBrowser, getJson, type ApiRun } from './harness';

const suite = inject('suite');
const n = suite.roots.fanoutRuns;
let browser: Browser;

beforeAll(async () => {
  browser = await connectBrowser(suite.wsEndpoint);
});
afterAll(async () => {
  await browser?.close();
});

interface GraphStats {
  nodes: number;
  drawn: number;
  lastFrameMs: number;
}

describe.skipIf(n === 0)(`a fan-out of ${n} runs`, () => {
  it('loads, reports data-ready, and selects a step through window.__sematicGraph', { timeout: 150_000 }, async () => {
    const filters = { AND: [{ root_id: { eq: suite.roots.fanout } }, { name: { eq: 'inc' } }] };
    const [inc] = (
      await getJson<{ content: ApiRun[] }>(suite.url, `/api/v1/runs?limit=1&filters=${encodeURIComponent(JSON.stringify(filters))}`)
    ).content;
    expect(inc.name).toBe('inc');
    await withPage(browser, suite.url, 'fanout', async (page) => {
      // Generous: the benchmark says how long it takes; this says that it works.
      await openRunPage(page, suite.roots.fanout, '', { timeoutMs: 90_000, intervalMs: 250 });
      expect(Number(await page.locator(GRAPH).getAttribute('data-node-count'))).toBeGreaterThanOrEqual(n);
      // 100,000 nodes are not 100,000 elements: canvas, or a DOM culled to the viewport.
      const mode = await page.locator(GRAPH).getAttribute('data-render-mode');
      expect(['dom', 'canvas']).toContain(mode);
      expect(await page.locator('[data-testid=dag-node]').count()).toBeLessThan(5_000);
      const stats = await page.evaluate(
        () => (window as unknown as { __sematicGraph: { stats(): GraphStats } }).__sematicGraph.stats(),
      );
      expect(stats.nodes).toBeGreaterThanOrEqual(n);
      expect(stats.drawn).toBeLessThan(stats.nodes);
      expect(await page.evaluate(() => performance.getEntriesByName('sematic:graph-ready').length)).toBe(1);

      await page.evaluate(
        (id) => (window as unknown as { __sematicGraph: { select(id: string): void } }).__sematicGraph.select(id),
        inc.id,
      );
      await waitText(page, '[data-testid=run-panel] [data-testid=run-name]', "the run panel for 'inc'", (t) => t.trim() === 'inc', 30_000);
      const pos = await page.evaluate(
        (id) =>
          (window as unknown as { __sematicGraph: { nodeScreenPosition(id: string): { x: number; y: number } | null } })
            .__sematicGraph.nodeScreenPosition(id),
        inc.id,
      );
      expect(pos, 'the selected node is drawn somewhere on the page').not.toBeNull();
    });
  });
});
