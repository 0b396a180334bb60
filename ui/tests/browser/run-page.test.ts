/**
 * `/runs/<root_id>`: the graph and its node states, the run panel (inputs, outputs, exception),
 * notes, nested runs, and a pipeline that runs while the page watches it.
 */
import { writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  GRAPH,
  describeGraph,
  expandAll,
  hashParams,
  nodeSel,
  openRunPage,
  openTab,
  showsNumber,
  waitNodeState,
  waitText,
  withPage,
} from './dashboard';
import {
  connectBrowser,
  getJson,
  makeHome,
  oneRun,
  removeHome,
  runsOf,
  screenshot,
  spawnPipeline,
  waitFor,
  type ApiRun,
} from './harness';

const suite = inject('suite');
let browser: Browser;
let example: ApiRun[];
const exampleRoot = suite.roots.example[1];

beforeAll(async () => {
  browser = await connectBrowser(suite.wsEndpoint);
  example = await runsOf(suite.url, exampleRoot);
});
afterAll(async () => {
  await browser?.close();
});

async function clickNode(page: Page, runId: string): Promise<void> {
  await waitFor(`node ${runId} to be drawn`, () => page.locator(nodeSel(runId)).count(), {
    describe: () => describeGraph(page),
  });
  await page.locator(nodeSel(runId)).click();
}

async function waitPanelFor(page: Page, name: string): Promise<void> {
  await waitText(page, '[data-testid=run-panel] [data-testid=run-name]', `the run panel for '${name}'`, (t) =>
    t.trim() === name,
  );
}

describe('run page', () => {
  it('draws the example pipeline with every top-level step RESOLVED', async () => {
    // `_make_list` is the run that gathers the candidates into a list, as in Sematic.
    const top = example.filter((r) => r.parent_id === exampleRoot && r.name !== '_make_list');
    expect(top.map((r) => r.name).sort()).toEqual(
      ['make_data', 'pick_best', 'take', 'take', 'train_and_evaluate', 'train_and_evaluate', 'train_and_evaluate'].sort(),
    );
    await withPage(browser, suite.url, 'run-graph', async (page) => {
      await openRunPage(page, exampleRoot);
      expect(await page.locator(GRAPH).getAttribute('data-render-mode')).toBe('dom');
      expect(Number(await page.locator(GRAPH).getAttribute('data-node-count'))).toBeGreaterThanOrEqual(top.length);
      for (const run of top) await waitNodeState(page, run.id, 'RESOLVED');
      for (const run of top.filter((r) => r.name === 'train_and_evaluate')) {
        expect(await page.locator(nodeSel(run.id)).getAttribute('data-compound')).toBe('true');
      }
      await waitText(page, '[data-testid=pipeline-status]', 'the pipeline status to say it completed', (t) =>
        /complete|resolved|succeeded/i.test(t),
      );
    });
  });

  it('shows the inputs and outputs of a clicked node, and keeps the selection in the URL', async () => {
    const makeData = oneRun(example, 'make_data');
    await withPage(browser, suite.url, 'run-inputs', async (page) => {
      await openRunPage(page, exampleRoot);
      await clickNode(page, makeData.id);
      await waitPanelFor(page, 'make_data');
      await expect.poll(() => hashParams(page).get('run')).toBe(makeData.id);
      await openTab(page, 'Inputs');
      const panel = page.getByRole('tabpanel');
      await waitText(page, '[data-testid=artifact-view][data-name=n_points]', 'n_points = 200', (t) => showsNumber(t, 200));
      await waitText(page, '[data-testid=artifact-view][data-name=seed]', 'seed = 7', (t) => showsNumber(t, 7));
      expect(await panel.locator('[data-testid=artifact-view]').count()).toBe(2);
      await screenshot(page, 'dashboard-run-graph.png');

      await openTab(page, 'Outputs');
      await expect.poll(() => hashParams(page).get('tab')).toBe('outputs');
      const out = await waitText(page, '[role=tabpanel] [data-testid=artifact-view]', 'the Dataset output', (t) =>
        /\bxs\b/.test(t) && /\bys\b/.test(t),
      );
      expect(out).toMatch(/Dataset/);
    });
  });

  it('opens a run and tab from the URL and renders a dataclass output field by field', async () => {
    const pickBest = oneRun(example, 'pick_best');
    const report = suite.roots.exampleReport;
    await withPage(browser, suite.url, 'run-outputs', async (page) => {
      await openRunPage(page, exampleRoot, `#run=${pickBest.id}&tab=outputs`);
      await waitPanelFor(page, 'pick_best');
      expect(await page.getByRole('tab', { name: 'Outputs', exact: true }).getAttribute('aria-selected')).toBe('true');
      await waitText(page, '[role=tabpanel] [data-testid=artifact-view]', 'the Report output', (t) => t.includes('Report'));
      await expandAll(page, '[role=tabpanel] [data-testid=artifact-view]');
      const text = await waitText(page, '[role=tabpanel] [data-testid=artifact-view]', 'the Report output', (t) =>
        ['best', 'candidates', 'slope', 'intercept', 'learning_rate', 'test_mse'].every((f) => t.includes(f)),
      );
      for (const c of report.candidates) {
        expect(showsNumber(text, c.line.learning_rate), `learning rate ${c.line.learning_rate} in ${text}`).toBe(true);
        expect(showsNumber(text, c.test_mse), `test_mse ${c.test_mse} in ${text}`).toBe(true);
      }
      expect(showsNumber(text, report.best.line.slope), `slope ${report.best.line.slope} in ${text}`).toBe(true);
      await screenshot(page, 'dashboard-artifact.png');
    });
  });

  it('shows a failed run with its exception and traceback', async () => {
    const failing = await runsOf(suite.url, suite.roots.failing);
    const share = oneRun(failing, 'share');
    await withPage(browser, suite.url, 'run-failed', async (page) => {
      await openRunPage(page, suite.roots.failing, `#run=${share.id}`);
      await waitNodeState(page, share.id, 'FAILED');
      await waitNodeState(page, oneRun(failing, 'count_apples').id, 'RESOLVED');
      await waitPanelFor(page, 'share');
      const exc = await waitText(page, '[data-testid=run-exception]', 'the ValueError and its traceback', (t) =>
        t.includes('ValueError') && t.includes('cannot share 3 apples among 0 baskets'),
      );
      expect(exc).toContain('_per_basket'); // a frame of the traceback, not only the message
      expect(exc).toMatch(/Traceback|File "/);
      await waitText(page, '[data-testid=pipeline-status]', 'the pipeline status to say it failed', (t) => /fail/i.test(t));
      await screenshot(page, 'dashboard-failed-run.png');
    });
  });

  it("shows a run's log lines and finds them with the search box", async () => {
    const failing = await runsOf(suite.url, suite.roots.failing);
    const share = oneRun(failing, 'share');
    await withPage(browser, suite.url, 'run-logs', async (page) => {
      await openRunPage(page, suite.roots.failing, `#run=${share.id}&tab=logs`);
      await waitPanelFor(page, 'share');
      await waitText(page, '[role=tabpanel]', "the step's printed line", (t) =>
        t.includes('sharing 3 apples among 0 baskets'),
      );
      const lines = page.locator('[data-testid=log-line]');
      expect(await lines.count()).toBeGreaterThan(0);
      await page.locator('[data-testid=log-search]').fill('apples among');
      await expect
        .poll(async () => (await lines.allTextContents()).every((t) => t.includes('apples among')) && (await lines.count()) > 0, {
          timeout: 10_000,
        })
        .toBe(true);
      await page.locator('[data-testid=log-search]').fill('no line says this');
      await expect.poll(() => lines.count(), { timeout: 10_000 }).toBe(0);
      await waitText(page, '[role=tabpanel]', 'that nothing matches', (t) => /no matching/i.test(t));
    });
  });

  it('adds a note, keeps it across a reload, and deletes it', async () => {
    const text = `checked by the browser test ${Date.now()}`;
    const notesOf = async (): Promise<{ id: string; note: string }[]> =>
      (
        await getJson<{ content: { id: string; note: string }[] }>(
          suite.url,
          `/api/v1/notes?filters=${encodeURIComponent(JSON.stringify({ root_id: { eq: exampleRoot } }))}`,
        )
      ).content;
    await withPage(browser, suite.url, 'notes', async (page) => {
      await openRunPage(page, exampleRoot, '#tab=notes');
      await page.locator('textarea[data-testid=note-input]').fill(text);
      await page.locator('[data-testid=note-submit]').click();
      const note = page.locator('[data-testid=note]', { hasText: text });
      await waitFor(`the note '${text}' to be listed`, () => note.count());
      const id = await note.getAttribute('data-note-id');
      expect((await notesOf()).map((n) => [n.id, n.note])).toContainEqual([id, text]);

      await page.reload();
      await waitFor('the note again after a reload', () => page.locator(`[data-testid=note][data-note-id="${id}"]`).count(), {
        describe: async () => (await page.locator('[data-testid=note]').allInnerTexts()).join(' | '),
      });

      await page.locator(`[data-testid=note][data-note-id="${id}"] [data-testid=note-delete]`).click();
      await waitFor('the note to be gone', async () => (await page.locator(`[data-testid=note][data-note-id="${id}"]`).count()) === 0);
      expect((await notesOf()).map((n) => n.id)).not.toContain(id);
    });
  });

  it('draws nested runs collapsed and expands one on its toggle', async () => {
    const runs = await runsOf(suite.url, suite.roots.nested);
    const [top] = runs.filter((r) => r.parent_id === suite.roots.nested && r.name === 'branch');
    const inner = runs.filter((r) => r.parent_id === top.id && r.name !== '_make_list');
    expect(inner.map((r) => r.name).sort()).toEqual(['branch', 'branch', 'branch', 'total']);
    await withPage(browser, suite.url, 'nested', async (page) => {
      await openRunPage(page, suite.roots.nested);
      await waitNodeState(page, top.id, 'RESOLVED');
      expect(await page.locator(nodeSel(top.id)).getAttribute('data-compound')).toBe('true');
      await page.locator(`${nodeSel(top.id)} [data-testid=dag-expand]`).click();
      for (const r of inner) await waitNodeState(page, r.id, 'RESOLVED');
      // Each inner branch is itself compound and still collapsed: its leaves are not drawn.
      const leaves = runs.filter((r) => r.name === 'leaf');
      expect(await page.locator(nodeSel(leaves[0].id)).count()).toBe(0);
    });
  });

  it('follows a pipeline that runs while the page is open', async () => {
    const gates = await makeHome('sematic-gates-');
    const live = spawnPipeline(suite.home, 'gated', [gates]);
    try {
      const started = (name: string): Promise<string> =>
        waitFor(`the gated pipeline's step '${name}' to start`, () => {
          const f = path.join(gates, `${name}.started`);
          return existsSync(f) && readFileSync(f, 'utf8');
        }, { timeoutMs: 30_000, describe: live.output });
      const firstId = await started('first');
      const root = readFileSync(path.join(gates, 'root'), 'utf8');
      await withPage(browser, suite.url, 'live', async (page) => {
        await openRunPage(page, root);
        await waitNodeState(page, firstId, 'SCHEDULED');
        // The page's own stream shows in the top bar.
        await page.locator('[data-testid=connection][data-status="live"]').waitFor({ timeout: 10_000 });
        await waitText(page, '[data-testid=pipeline-status]', 'the pipeline status to say it runs', (t) => /running|in progress/i.test(t));

        await writeFile(path.join(gates, 'first.go'), '');
        await waitNodeState(page, firstId, 'RESOLVED');
        const secondId = await started('second');
        await waitNodeState(page, secondId, 'SCHEDULED');
        expect(await page.locator(nodeSel(firstId)).getAttribute('data-state')).toBe('RESOLVED');

        await writeFile(path.join(gates, 'second.go'), '');
        await waitNodeState(page, secondId, 'RESOLVED');
        await waitText(page, '[data-testid=pipeline-status]', 'the pipeline status to say it completed', (t) =>
          /complete|resolved|succeeded/i.test(t),
        );
        // All of it without a reload: the page followed the change feed.
        expect(page.url()).toContain(`/runs/${root}`);
      });
      expect(await live.exited()).toBe(0);
    } finally {
      await live.stop();
      await removeHome(gates);
    }
  });
});
