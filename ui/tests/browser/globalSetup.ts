/**
 * Vitest's globalSetup for the browser tests: one temp store filled by real pipelines, the real
 * server on it and one headless Chromium, shared by every test file through `inject('suite')`,
 * and all of it stopped (the server checked for a clean exit) when the run ends, failed or not.
 *
 * SEMATIC_BROWSER_FANOUT sets the size of the big fan-out pipeline (default 100,000; 0: none).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  buildStore,
  launchBrowserServer,
  makeHome,
  removeHome,
  startServer,
  UI_DIST,
  type Server,
  type StoreRoots,
} from './harness';

/** What the test files get from `inject('suite')`. */
export interface Suite {
  home: string;
  url: string;
  wsEndpoint: string;
  roots: StoreRoots;
}

declare module 'vitest' {
  export interface ProvidedContext {
    suite: Suite;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!existsSync(path.join(UI_DIST, 'index.html')))
    throw new Error(`no dashboard build in ${UI_DIST}; run 'make ui' (make browser-test does)`);
  const fanoutRuns = Number(process.env.SEMATIC_BROWSER_FANOUT ?? 100_000);
  const home = await makeHome();
  let server: Server | undefined;
  let browser: Awaited<ReturnType<typeof launchBrowserServer>> | undefined;
  const teardown = async (): Promise<void> => {
    const problems: string[] = [];
    await browser?.close().catch((err: Error) => problems.push(`closing Chromium: ${err.message}`));
    await server?.stop().catch((err: Error) => problems.push(err.message));
    await removeHome(home);
    await removeHome(`${server?.logPath ?? `${home}-none`}`);
    if (problems.length) throw new Error(problems.join('\n'));
  };
  try {
    const t0 = Date.now();
    const roots = await buildStore(home, { fanoutRuns });
    const t1 = Date.now();
    server = await startServer(home);
    browser = await launchBrowserServer();
    console.log(
      `browser tests: store ${home} built in ${((t1 - t0) / 1000).toFixed(1)} s ` +
        `(fan-out of ${fanoutRuns}); server ${server.url}`,
    );
    project.provide('suite', { home, url: server.url, wsEndpoint: browser.wsEndpoint(), roots });
  } catch (err) {
    await teardown().catch(() => undefined);
    throw err;
  }
  return teardown;
}
