/**
 * The browser tests' harness: real pipelines into a temp store, the real server on it, Debian's
 * Chromium driven by playwright-core, and a clean stop of all three.
 *
 *     const home = await makeHome();
 *     const roots = await buildStore(home, { fanoutRuns: 100_000 });
 *     const server = await startServer(home);        // `sematic start --foreground` on a free port
 *     const browser = await launchBrowser();          // /usr/bin/chromium, headless
 *     ...
 *     await browser.close(); await server.stop();     // stop() checks exit 0 on SIGTERM
 *
 * Every wait here waits for an observable condition (a printed line, a ping, a file, an
 * attribute) with a deadline, and fails with what it saw last; nothing sleeps and hopes.
 * The server is `$SEMATIC_CLI` when set (an ASan build, say), else `.venv/bin/sematic`; the
 * pipelines run with `.venv/bin/python` (`$SEMATIC_PYTHON` to override) and LocalRunner, writing
 * straight into the store the server reads, as a user's laptop does.
 *
 * globalSetup.ts builds one store and one server per run of the suite; the test files reach them
 * through `inject('suite')` (the `Suite` below).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type BrowserServer, type Page } from 'playwright-core';

// bench/ui_paint.ts lives outside ui/ and reaches playwright-core's types through here.
export type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';

export const REPO = path.resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const UI_DIST = path.join(REPO, 'ui', 'dist');
/** Where `python -m pipelines.<name>` finds the tests' pipelines. */
export const BROWSER_TESTS = path.join(REPO, 'ui', 'tests', 'browser');
export const PYTHON = process.env.SEMATIC_PYTHON ?? path.join(REPO, '.venv', 'bin', 'python');
export const SEMATIC_CLI = process.env.SEMATIC_CLI ?? path.join(REPO, '.venv', 'bin', 'sematic');
export const CHROMIUM = process.env.SEMATIC_CHROMIUM ?? '/usr/bin/chromium';
/** The size of the screenshots in docs/images and of every test page. */
export const VIEWPORT = { width: 1440, height: 900 };

const SERVER_START_MS = 60_000;
const SERVER_STOP_MS = 20_000;
const PIPELINE_MS = 120_000;

// ---- waiting -----------------------------------------------------------------------------------

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Calls `probe` until it returns something truthy (a count of 0 is not), and returns that.
 * Past the deadline it throws `timed out after N ms waiting for <what>; last seen: <...>`, where
 * the last seen value is `describe()` when given, else the probe's last result or error.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false | 0 | ''> | T | undefined | null | false | 0 | '',
  opts: WaitOptions & { describe?: () => Promise<string> | string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let last: unknown = undefined;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err instanceof Error ? `error: ${err.message}` : err;
    }
    if (Date.now() >= deadline) {
      let seen: string;
      try {
        seen = opts.describe ? await opts.describe() : JSON.stringify(last);
      } catch (err) {
        seen = `(describe failed: ${String(err)})`;
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${seen}`);
    }
    // Polling is the condition check here: files and child processes have no change event we
    // can rely on everywhere, and the page's own waits are used where the page has one.
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

// ---- temp store and pipelines ------------------------------------------------------------------

/** A fresh empty directory for SEMATIC_HOME (and the gate files of live pipelines). */
export async function makeHome(prefix = 'sematic-browser-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeHome(home: string): Promise<void> {
  await rm(home, { recursive: true, force: true });
}

function pythonEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SEMATIC_HOME: home, SEMATIC_PROGRESS: '0' };
  env.PYTHONDONTWRITEBYTECODE = '1';
  delete env.SEMATIC_API_ADDRESS; // the store on disk, which the server reads too
  delete env.SEMATIC_API_KEY;
  return env;
}

export interface PythonResult {
  stdout: string;
  stderr: string;
}

/** Runs python with `args` in `cwd` against the store at `home`; rejects unless it exits 0. */
export function runPython(
  home: string,
  args: string[],
  cwd: string = BROWSER_TESTS,
  timeoutMs: number = PIPELINE_MS,
): Promise<PythonResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(PYTHON, args, { cwd, env: pythonEnv(home), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run '${PYTHON}': ${err.message}; run 'make install' first`));
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else
        reject(
          new Error(
            `'python ${args.join(' ')}' exited ${code ?? signal}` +
              `${signal === 'SIGKILL' ? ` (killed after ${timeoutMs} ms)` : ''}\n` +
              `stdout:\n${stdout}\nstderr:\n${stderr}`,
          ),
        );
    });
  });
}

/** The id on the `ROOT <id>` line our pipelines print first. */
export function rootIdFrom(stdout: string): string {
  const m = /^ROOT ([0-9a-f]{32})$/m.exec(stdout);
  if (!m) throw new Error(`no 'ROOT <id>' line in the pipeline's output:\n${stdout}`);
  return m[1];
}

/** Runs `python -m pipelines.<module> args...` to the end; its root id. */
export async function runPipeline(home: string, module: string, args: string[] = []): Promise<string> {
  const { stdout } = await runPython(home, ['-m', `pipelines.${module}`, ...args]);
  return rootIdFrom(stdout);
}

/** Runs examples/first_pipeline.py as a user would; its root id. */
export async function runExample(home: string): Promise<string> {
  const { stdout } = await runPython(home, ['first_pipeline.py'], path.join(REPO, 'examples'));
  const m = /^pipeline run ([0-9a-f]{32}) is recorded/m.exec(stdout);
  if (!m) throw new Error(`examples/first_pipeline.py did not print its run id:\n${stdout}`);
  return m[1];
}

/** The example's result as SilentRunner computes it (deterministic: fixed seed). */
export interface ExampleReport {
  best: { line: { slope: number; intercept: number; learning_rate: number }; test_mse: number };
  candidates: { line: { slope: number; intercept: number; learning_rate: number }; test_mse: number }[];
}

export async function exampleReport(home: string): Promise<ExampleReport> {
  const { stdout } = await runPython(home, ['-m', 'pipelines.example_values']);
  return JSON.parse(stdout) as ExampleReport;
}

/** A pipeline process the test started and must stop (`stop()` is safe to call twice). */
export interface LiveProcess {
  proc: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process has ended by itself. */
  exited(timeoutMs?: number): Promise<number | null>;
  stop(): Promise<void>;
}

export function spawnPipeline(home: string, module: string, args: string[] = []): LiveProcess {
  const proc = spawn(PYTHON, ['-m', `pipelines.${module}`, ...args], {
    cwd: BROWSER_TESTS,
    env: pythonEnv(home),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const done = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  return {
    proc,
    output: () => out,
    exited: async (timeoutMs = 30_000) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`pipelines.${module} still running after ${timeoutMs} ms; output:\n${out}`)),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([done, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await done;
    },
  };
}

/** The pipelines of the suite's store and what the tests know about them. */
export interface StoreRoots {
  /** examples/first_pipeline.py, run twice: [older, newer]. */
  example: string[];
  failing: string;
  nested: string;
  fanout: string;
  fanoutRuns: number;
  exampleReport: ExampleReport;
}

/**
 * Fills the store at `home`: the example twice, the failing pipeline, the nested one and a
 * fan-out of `fanoutRuns` steps (0: none), one after the other (two cores).
 */
export async function buildStore(home: string, opts: { fanoutRuns: number }): Promise<StoreRoots> {
  const example = [await runExample(home), await runExample(home)];
  const failing = await runPipeline(home, 'failing');
  const nested = await runPipeline(home, 'nested');
  const fanout = opts.fanoutRuns > 0 ? await runPipeline(home, 'fanout', [String(opts.fanoutRuns)]) : '';
  const report = await exampleReport(home);
  return { example, failing, nested, fanout, fanoutRuns: opts.fanoutRuns, exampleReport: report };
}

// ---- the server --------------------------------------------------------------------------------

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function ping(baseUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${baseUrl}/api/v1/ping`, { signal: AbortSignal.timeout(5_000) });
    return res.status === 200 && (await res.text()) === '{"status":"ok"}';
  } catch {
    return false;
  }
}

export interface Server {
  home: string;
  port: number;
  url: string;
  pid: number;
  logPath: string;
  log(): string;
  /** SIGTERM; throws unless it exits 0 within 20 s and removes its pid file. */
  stop(): Promise<void>;
}

/** Stops a test file's own server and removes its store and log (afterAll of such a file). */
export async function stopServerAndHome(server: Server | undefined, home: string | undefined): Promise<void> {
  try {
    await server?.stop();
  } finally {
    if (home) await removeHome(home);
    if (server) await removeHome(server.logPath);
  }
}

/**
 * `sematic start --foreground --port <free>` on the store at `home`, serving `uiDir`. Resolves
 * once it printed `Sematic dashboard: <url>` and answers a ping; retries when another process
 * took the port in between.
 */
export async function startServer(home: string, uiDir: string = UI_DIST, env: NodeJS.ProcessEnv = {}): Promise<Server> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const logPath = `${home}-server-${port}.log`;
    const logFd = openSync(logPath, 'w');
    const proc = spawn(SEMATIC_CLI, ['start', '--foreground', '--port', String(port)], {
      env: { ...process.env, SEMATIC_HOME: home, SEMATIC_UI_DIR: uiDir, SEMATIC_SERVER_PORT: undefined, ...env },
      stdio: ['ignore', 'pipe', logFd],
    });
    closeSync(logFd);
    const log = (): string => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');
    const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
    let printed = '';
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => (printed += d));
    proc.on('error', () => undefined); // reported through `exited` and the wait below
    const url = `http://127.0.0.1:${port}`;
    let ok = false;
    try {
      await waitFor(
        `the server on port ${port} to print its URL and answer a ping`,
        async () => {
          if (proc.exitCode !== null || proc.signalCode !== null) throw new Error('exited');
          return printed.includes(`Sematic dashboard: ${url}`) && (await ping(url));
        },
        { timeoutMs: SERVER_START_MS, describe: () => `printed ${JSON.stringify(printed)}; log:\n${log()}` },
      );
      ok = true;
    } catch (err) {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
      if (log().includes('already in use') && attempt < 2) continue;
      throw new Error(`the server did not start: ${(err as Error).message}\n(${SEMATIC_CLI}; run 'make install')`);
    }
    if (ok) {
      let stopped = false;
      // A test run that is interrupted still must not leave the server behind.
      const killOnExit = (): void => {
        if (!stopped) proc.kill('SIGKILL');
      };
      process.once('exit', killOnExit);
      return {
        home,
        port,
        url,
        pid: proc.pid ?? -1,
        logPath,
        log,
        stop: async () => {
          if (stopped) return;
          stopped = true;
          process.removeListener('exit', killOnExit);
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
          let timer: NodeJS.Timeout | undefined;
          const code = await Promise.race([
            exited,
            new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), SERVER_STOP_MS))),
          ]);
          clearTimeout(timer);
          if (code === 'timeout') {
            proc.kill('SIGKILL');
            await exited;
            throw new Error(`the server did not stop within ${SERVER_STOP_MS} ms of SIGTERM; log:\n${log()}`);
          }
          if (code !== 0) throw new Error(`the server exited ${code ?? proc.signalCode} on SIGTERM; log:\n${log()}`);
          if (existsSync(path.join(home, 'server.pid'))) throw new Error('the server left its pid file behind');
        },
      };
    }
  }
}

// ---- the HTTP API (to learn ids; what the page shows is checked in the page) -------------------

export async function getJson<T>(baseUrl: string, pathAndQuery: string): Promise<T> {
  const res = await fetch(`${baseUrl}${pathAndQuery}`, { signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${pathAndQuery}: ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

export interface ApiRun {
  id: string;
  name: string;
  function_path: string;
  parent_id: string | null;
  root_id: string;
  future_state: string;
}

/** Every run of the pipeline `rootId` (for small pipelines), oldest first. */
export async function runsOf(baseUrl: string, rootId: string): Promise<ApiRun[]> {
  const filters = encodeURIComponent(JSON.stringify({ root_id: { eq: rootId } }));
  const page = await getJson<{ content: ApiRun[] }>(baseUrl, `/api/v1/runs?limit=-1&order=asc&filters=${filters}`);
  return page.content;
}

/** The one run of `runs` named `name` (throws listing the names when there is not exactly one). */
export function oneRun(runs: ApiRun[], name: string): ApiRun {
  const found = runs.filter((r) => r.name === name);
  if (found.length !== 1)
    throw new Error(`expected one run named '${name}', found ${found.length} among ${runs.map((r) => r.name).join(', ')}`);
  return found[0];
}

// ---- the browser -------------------------------------------------------------------------------

export const CHROMIUM_ARGS = [
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--enable-precise-memory-info',
  // Chromium's sandbox cannot start as root, which CI and this machine's make run as.
  ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
];

function checkChromium(): void {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at '${CHROMIUM}'; install Debian's: apt-get install -y chromium (make browser-test does)`);
}

/** Debian's Chromium, headless, as a server the test files connect to (globalSetup owns it). */
export async function launchBrowserServer(): Promise<BrowserServer> {
  checkChromium();
  return chromium.launchServer({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** Debian's Chromium, headless, owned by the caller (the benchmark). */
export async function launchBrowser(): Promise<Browser> {
  checkChromium();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

export function connectBrowser(wsEndpoint: string): Promise<Browser> {
  return chromium.connect(wsEndpoint);
}

/** A page at 1440x900 that records the page's uncaught errors, console errors and HTTP 5xx. */
export interface TestPage {
  context: BrowserContext;
  page: Page;
  errors: string[];
  close(): Promise<void>;
}

export async function openPage(browser: Browser, baseUrl: string): Promise<TestPage> {
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1, baseURL: baseUrl });
  // A missing element fails an action in 10 s, not Playwright's 30: the waits that need longer
  // say so.
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
  page.on('console', (msg) => {
    // Chromium reports every 4xx/5xx fetch as a console error without its URL, the favicon it
    // asks for by itself included; server errors are caught by URL below instead.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource'))
      errors.push(`console.error: ${msg.text()}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 500) errors.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
    // A file of the dashboard itself (script, style, icon) is never missing; the API's 404s
    // are answers some tests ask for.
    if (res.status() === 404 && !new URL(res.url()).pathname.startsWith('/api/'))
      errors.push(`HTTP 404 for ${res.request().method()} ${res.url()}`);
  });
  return { context, page, errors, close: () => context.close() };
}

/** Saves the page as `$SEMATIC_SCREENSHOTS/<name>` (1440x900) when that is set (`make screenshots`). */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.SEMATIC_SCREENSHOTS;
  if (!dir) return;
  await page.screenshot({ path: path.resolve(REPO, dir, name), fullPage: false });
}

export async function readText(file: string): Promise<string> {
  return readFile(file, 'utf8');
}
