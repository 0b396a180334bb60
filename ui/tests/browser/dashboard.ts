/// <reference lib="dom" />
/**
 * The dashboard as the tests see it: the selectors and hooks of ui/README.md ("What the browser
 * tests and benchmarks rely on") and waits on them that fail with what the page showed.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { openPage, REPO, waitFor, type WaitOptions } from './harness';

export const GRAPH = '[data-testid=run-graph]';
export const GRAPH_READY = '[data-testid=run-graph][data-ready="true"]';
export const nodeSel = (runId: string): string => `[data-testid=dag-node][data-run-id="${runId}"]`;
export const rowSel = (runId: string): string => `[data-testid=run-row][data-run-id="${runId}"]`;
export const pipelineRowSel = (functionPath: string): string =>
  `[data-testid=pipeline-row][data-function-path="${functionPath}"]`;

/** The run graph's attributes and up to 30 drawn nodes, for failure messages. */
export async function describeGraph(page: Page): Promise<string> {
  return page.evaluate(() => {
    const g = document.querySelector('[data-testid=run-graph]');
    if (!g) return `no [data-testid=run-graph] on ${location.pathname}${location.hash}; page text: ${document.body.innerText.slice(0, 300)}`;
    const nodes = Array.from(document.querySelectorAll('[data-testid=dag-node]'))
      .slice(0, 30)
      .map((n) => `${(n.getAttribute('data-run-id') ?? '?').slice(-4)}:${n.getAttribute('data-state')}`);
    return (
      `run-graph data-ready=${g.getAttribute('data-ready')} data-node-count=${g.getAttribute('data-node-count')} ` +
      `data-render-mode=${g.getAttribute('data-render-mode')}; ${document.querySelectorAll('[data-testid=dag-node]').length} ` +
      `dag-node elements: ${nodes.join(' ')}`
    );
  });
}

/** Opens `/runs/<rootId><hash>` and waits until the graph says it painted. */
export async function openRunPage(page: Page, rootId: string, hash = '', opts: WaitOptions = {}): Promise<void> {
  await page.goto(`/runs/${rootId}${hash}`);
  await waitGraphReady(page, opts);
}

/**
 * Waits for the graph's container (15 s: it shows while the graph loads), then for its
 * `data-ready="true"` (`opts.timeoutMs`, 15 s by default).
 */
export async function waitGraphReady(page: Page, opts: WaitOptions = {}): Promise<void> {
  await waitFor('[data-testid=run-graph]', () => page.locator(GRAPH).count(), {
    timeoutMs: 15_000,
    describe: () => describeGraph(page),
  });
  await waitFor('[data-testid=run-graph][data-ready="true"]', () => page.locator(GRAPH_READY).count(), {
    timeoutMs: opts.timeoutMs ?? 15_000,
    intervalMs: opts.intervalMs ?? 50,
    describe: () => describeGraph(page),
  });
}

/** Waits until the node of `runId` is drawn (dom mode) with `data-state` equal to `state`. */
export async function waitNodeState(page: Page, runId: string, state: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    `node ${runId} to have data-state="${state}"`,
    async () => (await page.locator(nodeSel(runId)).getAttribute('data-state', { timeout: 1_000 }).catch(() => null)) === state,
    { timeoutMs, describe: () => describeGraph(page) },
  );
}

/** The text of the element matching `selector` once it exists and shows `predicate`. */
export async function waitText(
  page: Page,
  selector: string,
  what: string,
  predicate: (text: string) => boolean,
  timeoutMs = 10_000,
): Promise<string> {
  let last = '(not found)';
  return waitFor(
    what,
    async () => {
      const loc = page.locator(selector);
      if ((await loc.count()) === 0) {
        last = `(no ${selector})`;
        return false;
      }
      last = (await loc.allInnerTexts()).join('\n---\n');
      return predicate(last) ? last : false;
    },
    { timeoutMs, describe: () => `${selector}: ${JSON.stringify(last.slice(0, 1500))}` },
  );
}

/** Clicks the tab named `name` (Inputs, Outputs, Source, Logs, Notes). */
export async function openTab(page: Page, name: string): Promise<void> {
  await page.getByRole('tab', { name, exact: true }).click({ timeout: 10_000 });
  await waitFor(`the ${name} tab to be selected`, async () =>
    (await page.getByRole('tab', { name, exact: true }).getAttribute('aria-selected')) === 'true',
  );
}

/** Every number written in `text` (plain or exponent notation). */
export function numbersIn(text: string): number[] {
  return (text.match(/-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/gi) ?? []).map(Number);
}

/** Whether `text` shows `value`, to the 4 significant digits a view may round it to. */
export function showsNumber(text: string, value: number): boolean {
  return numbersIn(text).some((n) => n === value || Math.abs(n - value) <= Math.abs(value) * 5e-4);
}

/** The hash parameters of the page's URL (`#run=...&tab=...`). */
export function hashParams(page: Page): URLSearchParams {
  return new URLSearchParams(new URL(page.url()).hash.replace(/^#/, ''));
}

/**
 * Runs `body` on a fresh 1440x900 page, then fails if the page threw or logged an error. On
 * failure the page is saved to `$SEMATIC_BROWSER_ARTIFACTS/<name>.png` when that is set.
 */
export async function withPage(
  browser: Browser,
  baseUrl: string,
  name: string,
  body: (page: Page) => Promise<void>,
): Promise<void> {
  const t = await openPage(browser, baseUrl);
  try {
    await body(t.page);
    if (t.errors.length) throw new Error(`the page reported errors:\n${t.errors.join('\n')}`);
  } catch (err) {
    const dir = process.env.SEMATIC_BROWSER_ARTIFACTS;
    if (dir) await t.page.screenshot({ path: path.resolve(REPO, dir, `${name}.png`) }).catch(() => undefined);
    if (t.errors.length && err instanceof Error && !err.message.includes('the page reported errors'))
      err.message += `\n(the page also reported: ${t.errors.join(' | ')})`;
    throw err;
  } finally {
    await t.close();
  }
}

/**
 * Opens every closed `<details>` under `selector` (nested values start collapsed), outermost
 * first, as a user clicking each summary would.
 */
export async function expandAll(page: Page, selector: string): Promise<void> {
  const closed = page.locator(`${selector} details:not([open]) > summary`);
  for (let i = 0; i < 200; i++) {
    if ((await closed.count()) === 0) return;
    await closed.first().click();
  }
  throw new Error(`still closed <details> under ${selector} after 200 clicks`);
}
