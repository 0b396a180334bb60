/**
 * "Rerun from here" (its own store and server: a rerun adds a pipeline run, which the other
 * files' counts must not see): the button starts `sematic rerun ROOT --from RUN` on the server
 * and the page moves to the new pipeline run, which completes with the runs upstream reused.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openRunPage, waitText, withPage } from './dashboard';
import {
  connectBrowser,
  getJson,
  makeHome,
  oneRun,
  runExample,
  runsOf,
  startServer,
  stopServerAndHome,
  waitFor,
  type Server,
} from './harness';

const suite = inject('suite');
let browser: Browser;
let home: string;
let server: Server | undefined;
let root: string;

beforeAll(async () => {
  browser = await connectBrowser(suite.wsEndpoint);
  home = await makeHome('sematic-rerun-');
  root = await runExample(home);
  server = await startServer(home);
});
afterAll(async () => {
  await browser?.close();
  await stopServerAndHome(server, home);
});

describe('rerun from here', () => {
  it('starts the pipeline again from the selected run and opens the new pipeline run', async () => {
    const url = server!.url;
    const pick = oneRun(await runsOf(url, root), 'pick_best');
    await withPage(browser, url, 'rerun', async (page) => {
      await openRunPage(page, root, `#run=${pick.id}`);
      await waitText(page, '[data-testid=run-panel] [data-testid=run-name]', "the panel for 'pick_best'", (t) =>
        t.trim() === 'pick_best',
      );
      await page.locator('[data-testid=rerun-from-here]').click();
      const newRoot = await waitFor(
        'the page of the new pipeline run',
        () => {
          const m = /\/runs\/([0-9a-f]{32})/.exec(page.url());
          return m !== null && m[1] !== root && m[1];
        },
        { timeoutMs: 20_000, describe: () => page.url() },
      );
      await waitText(
        page,
        '[data-testid=pipeline-status]',
        'the rerun to complete',
        (t) => /complete|succeeded/i.test(t),
        20_000,
      );
      // The runs upstream of pick_best reused their results (original_run_id); pick_best ran.
      const runs = (
        await getJson<{ content: { name: string; original_run_id: string | null; future_state: string }[] }>(
          url,
          `/api/v1/runs?limit=-1&filters=${encodeURIComponent(JSON.stringify({ root_id: { eq: newRoot } }))}`,
        )
      ).content;
      const byName = (name: string): { original_run_id: string | null; future_state: string }[] =>
        runs.filter((r) => r.name === name);
      expect(byName('pick_best').map((r) => [r.future_state, r.original_run_id])).toEqual([['RESOLVED', null]]);
      expect(byName('make_data').every((r) => r.original_run_id !== null)).toBe(true);
      expect(byName('make_data').length).toBe(1);
    });
  });
});
