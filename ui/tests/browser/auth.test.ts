/**
 * A server with SEMATIC_AUTHENTICATE=1 (its own small store): the dashboard asks for an API key
 * and shows the store once given a user's.
 */
import { spawnSync } from 'node:child_process';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pipelineRowSel, withPage } from './dashboard';
import { connectBrowser, makeHome, runPipeline, SEMATIC_CLI, startServer, stopServerAndHome, waitFor, type Server } from './harness';

const suite = inject('suite');
let browser: Browser;
let home: string;
let server: Server | undefined;
let apiKey: string;

beforeAll(async () => {
  browser = await connectBrowser(suite.wsEndpoint);
  home = await makeHome('sematic-auth-');
  await runPipeline(home, 'failing');
  const made = spawnSync(SEMATIC_CLI, ['users', 'create', 'ada@example.com', '--first-name', 'Ada'], {
    env: { ...process.env, SEMATIC_HOME: home },
    encoding: 'utf8',
  });
  const m = /^API key: (\S+)$/m.exec(made.stdout);
  if (made.status !== 0 || !m) throw new Error(`sematic users create failed (${made.status}): ${made.stdout}${made.stderr}`);
  apiKey = m[1];
  server = await startServer(home, undefined, { SEMATIC_AUTHENTICATE: '1' });
});
afterAll(async () => {
  await browser?.close();
  await stopServerAndHome(server, home);
});

describe('authentication', () => {
  it('asks for an API key, refuses a wrong one, and lets a user in', async () => {
    await withPage(browser, server!.url, 'login', async (page) => {
      await page.goto('/pipelines');
      await waitFor('[data-testid=login]', () => page.locator('[data-testid=login]').count());
      expect(await page.locator('[data-testid=pipeline-row]').count()).toBe(0);

      await page.locator('input[data-testid=api-key-input]').fill('not-a-key');
      await page.locator('[data-testid=login-submit]').click();
      // Refused: still the login form, and no pipeline shown. The wait is for the answer to be
      // shown, whatever the wording: the form stays and says something.
      await waitFor('the wrong key refused', async () =>
        (await page.locator('[data-testid=login]').count()) > 0 &&
        /invalid|wrong|refused|not|unknown|401|denied/i.test(await page.locator('[data-testid=login]').innerText()),
      );
      expect(await page.locator('[data-testid=pipeline-row]').count()).toBe(0);

      await page.locator('input[data-testid=api-key-input]').fill(apiKey);
      await page.locator('[data-testid=login-submit]').click();
      await waitFor('the pipelines once signed in', () => page.locator(pipelineRowSel('__main__.failing_pipeline')).count());
      expect(await page.locator('[data-testid=login]').count()).toBe(0);
    });
  });
});
