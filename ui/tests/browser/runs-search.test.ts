/// <reference lib="dom" />
/** `/runs`: text search, the status filter and "pipeline runs only", all kept in the URL. */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { withPage } from './dashboard';
import { connectBrowser, oneRun, runPipeline, runsOf, screenshot, waitFor, type ApiRun } from './harness';

const suite = inject('suite');
let browser: Browser;
let failing: ApiRun[];

beforeAll(async () => {
  browser = await connectBrowser(suite.wsEndpoint);
  failing = await runsOf(suite.url, suite.roots.failing);
});
afterAll(async () => {
  await browser?.close();
});

async function rowIds(page: Page): Promise<string[]> {
  return page
    .locator('[data-testid=run-row]')
    .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-run-id') ?? '(none)'));
}

/** Waits until the listed rows satisfy `ok`, failing with the ids it last saw. */
async function waitRows(page: Page, what: string, ok: (ids: string[]) => boolean): Promise<string[]> {
  let last: string[] = [];
  return waitFor(
    what,
    async () => {
      last = await rowIds(page);
      return ok(last) ? last : false;
    },
    { describe: () => `${page.url()} rows ${JSON.stringify(last)}` },
  );
}

const sameSet = (a: string[], b: string[]): boolean =>
  a.length === b.length && [...a].sort().join() === [...b].sort().join();

describe('runs search', () => {
  it('filters by text typed in the search box, and keeps it in the URL', async () => {
    const share = oneRun(failing, 'share');
    const count = oneRun(failing, 'count_apples');
    await withPage(browser, suite.url, 'runs-search-text', async (page) => {
      await page.goto('/runs?search=share');
      await expect.poll(() => page.locator('input[data-testid=runs-search]').inputValue()).toBe('share');
      await waitRows(page, `only the run 'share' (${share.id})`, (ids) => sameSet(ids, [share.id]));

      await page.locator('input[data-testid=runs-search]').fill('count_apples');
      await waitRows(page, `only the run 'count_apples' (${count.id})`, (ids) => sameSet(ids, [count.id]));
      await expect.poll(() => new URL(page.url()).searchParams.get('search')).toBe('count_apples');

      await page.locator('input[data-testid=runs-search]').fill('no run is called this');
      await waitRows(page, 'no rows', (ids) => ids.length === 0);
    });
  });

  it('shows the failed pipeline only under failed, with "pipeline runs only"', async () => {
    const failedRoot = suite.roots.failing;
    const completedRoots = [...suite.roots.example, suite.roots.nested];
    await withPage(browser, suite.url, 'runs-search-status', async (page) => {
      await page.goto('/runs');
      // click(), not check(): the box follows the URL, which changes just after the click.
      await page.locator('input[data-testid=root-only]').click();
      await expect.poll(() => page.locator('input[data-testid=root-only]').isChecked()).toBe(true);
      await waitRows(page, 'pipeline runs only (the example, failing and nested roots)', (ids) =>
        [...completedRoots, failedRoot].every((id) => ids.includes(id)),
      );
      await expect.poll(() => new URL(page.url()).searchParams.get('root')).toBe('1');
      await screenshot(page, 'dashboard-runs-search.png');

      await page.locator('select[data-testid=status-filter]').selectOption('failed');
      await waitRows(page, `only the failed pipeline ${failedRoot}`, (ids) => sameSet(ids, [failedRoot]));
      await expect.poll(() => new URL(page.url()).searchParams.get('status')).toBe('failed');

      await page.locator('select[data-testid=status-filter]').selectOption('completed');
      const completed = await waitRows(page, 'the completed pipelines', (ids) =>
        completedRoots.every((id) => ids.includes(id)),
      );
      expect(completed).not.toContain(failedRoot);

      // The same view from its URL alone, and with nested runs: only the failing pipeline's
      // failed runs (the step that raised and the root), never its resolved first step.
      await page.goto('/runs?status=failed');
      const failedIds = failing
        .filter((r) => r.future_state === 'FAILED' || r.future_state === 'NESTED_FAILED')
        .map((r) => r.id);
      expect(failedIds).toContain(oneRun(failing, 'share').id);
      await waitRows(page, `exactly the failed runs ${JSON.stringify(failedIds)}`, (ids) => sameSet(ids, failedIds));
      await expect.poll(() => page.locator('select[data-testid=status-filter]').inputValue()).toBe('failed');
      const states = await page
        .locator('[data-testid=run-row]')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-state')));
      const want = failedIds.map((id) => failing.find((r) => r.id === id)!.future_state);
      expect(states.sort()).toEqual(want.sort());
    });
  });

  it('pages forward and back through every run', async () => {
    await withPage(browser, suite.url, 'runs-paging', async (page) => {
      await page.goto('/runs');
      const first = await waitRows(page, 'a first page of runs', (ids) => ids.length > 0);
      await page.locator('[data-testid=next-page]').click();
      const second = await waitRows(page, 'a second page, none of the first page again', (ids) =>
        ids.length > 0 && ids.every((id) => !first.includes(id)),
      );
      expect(second.length).toBeGreaterThan(0);
      await page.locator('[data-testid=previous-page]').click();
      await waitRows(page, 'the first page again', (ids) => ids.join() === first.join());
    });
  });

  it('says when runs appeared after the page was read, and shows them on request', async () => {
    await withPage(browser, suite.url, 'runs-new', async (page) => {
      await page.goto('/runs?root=1');
      const before = await waitRows(page, 'the pipeline runs', (ids) => ids.includes(suite.roots.nested));
      const root = await runPipeline(suite.home, 'fanout', ['3']);
      await waitFor('[data-testid=new-runs] after a pipeline ran', () => page.locator('[data-testid=new-runs]').count(), {
        describe: async () => `rows ${JSON.stringify(await rowIds(page))}`,
      });
      // Not spliced in under the reader's eyes: the list is what it was until asked.
      expect(await rowIds(page)).toEqual(before);
      await page.locator('[data-testid=new-runs]').click();
      await waitRows(page, `the new pipeline run ${root} listed`, (ids) => ids.includes(root));
    });
  });
});
