/// <reference lib="dom" />
/** `/pipelines`: one row per pipeline function, with its last runs as state chips. */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pipelineRowSel, showsNumber, waitText, withPage } from './dashboard';
import { connectBrowser, runsOf, screenshot, waitFor } from './harness';

const suite = inject('suite');
let browser: Browser;

beforeAll(async () => {
  browser = await connectBrowser(suite.wsEndpoint);
});
afterAll(async () => {
  await browser?.close();
});

async function chipStates(page: import('playwright-core').Page, functionPath: string): Promise<string[]> {
  return page
    .locator(`${pipelineRowSel(functionPath)} [data-testid=state-chip]`)
    .evaluateAll((chips) => chips.map((c) => c.getAttribute('data-state') ?? '(none)'));
}

describe('pipelines and the shell', () => {
  it('lists the example pipeline with a RESOLVED chip per run, and the failed one with its state', async () => {
    const [failedRoot] = (await runsOf(suite.url, suite.roots.failing)).filter((r) => r.parent_id === null);
    expect(['FAILED', 'NESTED_FAILED']).toContain(failedRoot.future_state);

    await withPage(browser, suite.url, 'pipelines-index', async (page) => {
      await page.goto('/pipelines');
      const example = await waitFor(
        'the example pipeline row with two state chips',
        async () => {
          const states = await chipStates(page, '__main__.pipeline');
          return states.length >= 2 ? states : false;
        },
        {
          describe: async () =>
            `rows: ${JSON.stringify(
              await page
                .locator('[data-testid=pipeline-row]')
                .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-function-path'))),
            )}; example chips: ${JSON.stringify(await chipStates(page, '__main__.pipeline'))}`,
        },
      );
      expect(example).toEqual(['RESOLVED', 'RESOLVED']);
      for (const fp of ['__main__.failing_pipeline', '__main__.nested_pipeline']) {
        await expect.poll(() => page.locator(pipelineRowSel(fp)).count(), { timeout: 5_000 }).toBe(1);
      }
      expect(await chipStates(page, '__main__.failing_pipeline')).toEqual([failedRoot.future_state]);
      expect(await chipStates(page, '__main__.nested_pipeline')).toEqual(['RESOLVED']);
      // One row per function, however many runs it has.
      expect(await page.locator(pipelineRowSel('__main__.pipeline')).count()).toBe(1);
      // Each row's counts load as it scrolls into view: the example's two runs.
      await expect
        .poll(() => page.locator(`${pipelineRowSel('__main__.pipeline')} [data-testid=pipeline-run-count]`).textContent(), {
          timeout: 10_000,
        })
        .toBe('2');
      await expect.poll(() => page.getByText('…', { exact: true }).count(), { timeout: 10_000 }).toBe(0);
      await screenshot(page, 'dashboard-pipelines.png');
    });
  });

  it("opens a pipeline's page with its metrics", async () => {
    await withPage(browser, suite.url, 'pipeline-page', async (page) => {
      await page.goto('/pipeline/__main__.pipeline');
      // Two runs of the example, both resolved: the metrics count them.
      await waitText(page, '[data-testid=pipeline-metrics]', 'the metrics of 2 runs', (t) => showsNumber(t, 2));
    });
  });

  it('shows the change feed live on the runs page', async () => {
    await withPage(browser, suite.url, 'connection', async (page) => {
      await page.goto('/runs');
      // README names the attribute, not its values; the shell's are connecting, live, offline
      // and idle (a page that does not follow the feed). The runs page follows it.
      let last: string | null = null;
      await waitFor(
        '[data-testid=connection][data-status="live"]',
        async () => {
          last = await page.locator('[data-testid=connection]').getAttribute('data-status', { timeout: 1_000 }).catch(() => null);
          return last === 'live';
        },
        { describe: () => `data-status=${String(last)}` },
      );
    });
  });

  it('has the icon its pages name', async () => {
    await withPage(browser, suite.url, 'favicon', async (page) => {
      await page.goto('/pipelines');
      const href = await page.locator('link[rel=icon]').getAttribute('href');
      expect(href).toBeTruthy();
      // Chromium fetches the icon outside the page's network events: ask for it as it does.
      const res = await page.request.get(href!);
      expect(res.status()).toBe(200);
      expect(res.headers()['content-type']).toContain('image/svg+xml');
    });
  });
});
