/**
 * The run page at scale: a fan-out of N steps (N = 1,000, 10,000, 100,000), served by the real
 * server, opened in Debian's headless Chromium, beside Sematic 0.41's figures.
 *
 *     make bench-ui                                    # builds the dashboard, installs, runs this
 *     cd ui && npx vite-node ../bench/ui_paint.ts -- [--sizes 1000,10000,100000] [--repeat 3]
 *
 * For each N: a fresh SEMATIC_HOME filled by ui/tests/browser/pipelines/fanout.py (LocalRunner),
 * `sematic start --foreground` on it, and --repeat page loads of `/runs/<root>`, each in a fresh
 * browser context (no cache), of which the median is printed:
 *
 * - `/dag`: `GET /api/v1/runs/:id/dag` from Node, median of 3 (ms, bytes of the body), and the
 *   page's own fetch of it (Resource Timing: duration, bytes on the wire);
 * - `ready`: navigation start to `performance.mark('sematic:graph-ready')`;
 * - `longest task`: the longest main-thread task (PerformanceObserver 'longtask', observed from
 *   the page's first script) before ready, and during the interactions below;
 * - `heap`: the page's JSHeapUsedSize (CDP Performance.getMetrics) at ready, and after a forced
 *   GC; the layout worker's heap is not in it, so also the renderer process's PSS (/proc), which
 *   holds both, the DOM and the rest of the tab;
 * - `click → panel`: a real mouse click on a drawn `inc` node (its place from
 *   `window.__sematicGraph.nodeScreenPosition`) to the frame where the run panel names it
 *   (pointerdown's timeStamp to a requestAnimationFrame poll);
 * - pan/zoom: 10 wheel steps in, 10 out, then a 300 px drag in 30 moves, one step per frame;
 *   frame intervals from requestAnimationFrame timestamps (p50, p95, max) and the graph's own
 *   draw time (`__sematicGraph.stats().lastFrameMs`, max over the steps), and whether the view
 *   moved at all.
 *
 * Timings are printed, never asserted (the browser tests check that the page works). Sematic's
 * figures are those of /work/shared/notes/sematic-dashboard-at-scale.md (its own dashboard and
 * server, same kind of machine, N up to 3,000: beyond that it does not finish in minutes).
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import {
  CHROMIUM,
  VIEWPORT,
  getJson,
  connectBrowser,
  launchBrowserServer,
  makeHome,
  removeHome,
  runPipeline,
  startServer,
  type Browser,
  type CDPSession,
  type Page,
  type Server,
} from '../ui/tests/browser/harness';

interface Args {
  sizes: number[];
  repeat: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { sizes: [1_000, 10_000, 100_000], repeat: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') continue;
    if (a === '--sizes') args.sizes = argv[++i].split(',').map((s) => Number(s.replace(/_/g, '')));
    else if (a === '--repeat') args.repeat = Number(argv[++i]);
    else if (a === '-h' || a === '--help') {
      console.log('usage: vite-node ../bench/ui_paint.ts -- [--sizes 1000,10000,100000] [--repeat 3]');
      process.exit(0);
    } else throw new Error(`unknown argument '${a}'; try --help`);
  }
  if (args.sizes.some((n) => !Number.isInteger(n) || n < 1) || !(args.repeat >= 1))
    throw new Error('--sizes takes positive integers and --repeat a positive count');
  return args;
}

// ---- one page load ------------------------------------------------------------------------------

interface Load {
  readyMs: number;
  nodeCount: number;
  renderMode: string;
  dagFetchMs: number | null;
  dagTransferBytes: number | null;
  longestBeforeReadyMs: number;
  heapAtReadyBytes: number;
  heapAfterGcBytes: number;
  rendererPssBytes: number | null;
  clickToPanelMs: number | null;
  clickNote: string;
  frameP50Ms: number | null;
  frameP95Ms: number | null;
  frameMaxMs: number | null;
  drawMaxMs: number | null;
  longestDuringInteractionMs: number;
  viewMoved: boolean | null;
}

interface GraphHook {
  select(id: string): void;
  nodeScreenPosition(id: string): { x: number; y: number } | null;
  stats(): { nodes: number; drawn: number; lastFrameMs: number };
}
type BenchWindow = Window & {
  __sematicGraph: GraphHook;
  __bench: { longtasks: { start: number; dur: number }[]; frames: number[]; framesOn: boolean; t0: number };
};

// Installed before the page's own scripts, so no long task of the start-up is missed.
const INIT_SCRIPT = `
window.__bench = { longtasks: [], frames: [], framesOn: false, t0: 0 };
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__bench.longtasks.push({ start: e.startTime, dur: e.duration });
  }).observe({ type: 'longtask', buffered: true });
} catch (e) { /* no longtask support: reported as 0 */ }
`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

async function nextFrame(page: Page): Promise<void> {
  await page.evaluate(() => new Promise<void>((resolve) => requestAnimationFrame(() => resolve())));
}

async function heapUsed(cdp: CDPSession): Promise<number> {
  const { metrics } = (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
  return metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? NaN;
}

/** PSS of the biggest Chromium renderer under `browserPid` (one tab open at a time), or null. */
function rendererPss(browserPid: number): number | null {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const under = (pid: number): boolean => {
    for (let p = parentOf.get(pid); p !== undefined && p > 1; p = parentOf.get(p)) if (p === browserPid) return true;
    return false;
  };
  let best: number | null = null;
  for (const pid of parentOf.keys()) {
    if (!under(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer')) continue;
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (m) best = Math.max(best ?? 0, Number(m[1]) * 1024);
    } catch {
      // gone meanwhile
    }
  }
  return best;
}

async function loadOnce(browser: Browser, browserPid: number, server: Server, rootId: string, incIds: string[]): Promise<Load> {
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1, baseURL: server.url });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.addInitScript(INIT_SCRIPT);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');

    await page.goto(`/runs/${rootId}`, { waitUntil: 'commit' });
    await page.waitForFunction(() => performance.getEntriesByName('sematic:graph-ready').length > 0, null, {
      timeout: 600_000,
      polling: 50,
    });
    const heapAtReadyBytes = await heapUsed(cdp);
    // The layout runs in a Web Worker for big graphs, whose heap is not the page's: the
    // renderer process's PSS counts both (and the DOM, and everything else of the tab).
    const rendererPssBytes = rendererPss(browserPid);
    const at = await page.evaluate(() => {
      const w = window as unknown as BenchWindow;
      const ready = performance.getEntriesByName('sematic:graph-ready')[0].startTime;
      const dag = performance
        .getEntriesByType('resource')
        .find((e) => /\/api\/v1\/runs\/[^/]+\/dag/.test(e.name)) as PerformanceResourceTiming | undefined;
      const g = document.querySelector('[data-testid=run-graph]');
      return {
        ready,
        dagFetchMs: dag ? dag.duration : null,
        dagTransferBytes: dag ? dag.transferSize || dag.encodedBodySize : null,
        longest: Math.max(0, ...w.__bench.longtasks.filter((t) => t.start < ready).map((t) => t.dur)),
        nodeCount: Number(g?.getAttribute('data-node-count') ?? NaN),
        renderMode: g?.getAttribute('data-render-mode') ?? '?',
      };
    });
    await cdp.send('HeapProfiler.collectGarbage');
    const heapAfterGcBytes = await heapUsed(cdp);

    // Click a drawn `inc` node and time it to the frame where the panel names it.
    let clickToPanelMs: number | null = null;
    let clickNote = '';
    const target = await page.evaluate((ids) => {
      const w = window as unknown as BenchWindow;
      const box = document.querySelector('[data-testid=run-graph]')?.getBoundingClientRect();
      if (!box) return null;
      for (const id of ids) {
        const p = w.__sematicGraph.nodeScreenPosition(id);
        if (p && p.x > box.left + 20 && p.x < box.right - 20 && p.y > box.top + 20 && p.y < box.bottom - 20)
          return { id, ...p };
      }
      return null;
    }, incIds);
    if (target) {
      await page.evaluate(() => {
        const w = window as unknown as BenchWindow;
        addEventListener('pointerdown', (e) => (w.__bench.t0 = e.timeStamp), { capture: true, once: true });
      });
      await page.mouse.click(target.x, target.y);
      const handle = await page.waitForFunction(
        (id) => {
          const name = document.querySelector('[data-testid=run-panel] [data-testid=run-name]');
          const w = window as unknown as BenchWindow;
          return name?.textContent?.trim() === 'inc' && location.hash.includes(id) && w.__bench.t0 > 0
            ? performance.now() - w.__bench.t0
            : false;
        },
        target.id,
        { timeout: 60_000, polling: 'raf' },
      );
      clickToPanelMs = (await handle.jsonValue()) as number;
    } else clickNote = `none of the first ${incIds.length} inc nodes is drawn on screen`;

    // Pan and zoom, one step per frame, with every frame's timestamp recorded.
    const box = await page.locator('[data-testid=run-graph]').boundingBox();
    let frameP50Ms = null;
    let frameP95Ms = null;
    let frameMaxMs = null;
    let drawMaxMs = null;
    let viewMoved: boolean | null = null;
    let longestDuringInteractionMs = 0;
    if (box) {
      const cx = box.x + box.width / 2;
      const cy = box.y + box.height / 2;
      const probeId = target?.id ?? incIds[0];
      const before = await page.evaluate((id) => (window as unknown as BenchWindow).__sematicGraph.nodeScreenPosition(id), probeId);
      const start = await page.evaluate(() => {
        const w = window as unknown as BenchWindow;
        w.__bench.frames = [];
        w.__bench.framesOn = true;
        const tick = (t: number): void => {
          w.__bench.frames.push(t);
          if (w.__bench.framesOn) requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
        return performance.now();
      });
      const draws: number[] = [];
      const step = async (): Promise<void> => {
        await nextFrame(page);
        draws.push(await page.evaluate(() => (window as unknown as BenchWindow).__sematicGraph.stats().lastFrameMs));
      };
      await page.mouse.move(cx, cy);
      for (let i = 0; i < 10; i++) {
        await page.mouse.wheel(0, -120);
        await step();
      }
      for (let i = 0; i < 10; i++) {
        await page.mouse.wheel(0, 120);
        await step();
      }
      await page.mouse.move(cx, cy + 40);
      await page.mouse.down();
      for (let i = 1; i <= 30; i++) {
        await page.mouse.move(cx - 10 * i, cy + 40 - 3 * i);
        await step();
      }
      await page.mouse.up();
      await step();
      const frames = await page.evaluate((t0) => {
        const w = window as unknown as BenchWindow;
        w.__bench.framesOn = false;
        return {
          ts: w.__bench.frames,
          longest: Math.max(0, ...w.__bench.longtasks.filter((t) => t.start >= t0).map((t) => t.dur)),
        };
      }, start);
      const gaps = frames.ts.slice(1).map((t, i) => t - frames.ts[i]);
      if (gaps.length) {
        frameP50Ms = median(gaps);
        frameP95Ms = quantile(gaps, 0.95);
        frameMaxMs = Math.max(...gaps);
      }
      const finite = draws.filter((d) => Number.isFinite(d));
      drawMaxMs = finite.length ? Math.max(...finite) : null;
      longestDuringInteractionMs = frames.longest;
      const after = await page.evaluate((id) => (window as unknown as BenchWindow).__sematicGraph.nodeScreenPosition(id), probeId);
      viewMoved = before === null || after === null ? before !== after : before.x !== after.x || before.y !== after.y;
    }
    if (errors.length) throw new Error(`the page threw: ${errors.join(' | ')}`);
    return {
      readyMs: at.ready,
      nodeCount: at.nodeCount,
      renderMode: at.renderMode,
      dagFetchMs: at.dagFetchMs,
      dagTransferBytes: at.dagTransferBytes,
      longestBeforeReadyMs: at.longest,
      heapAtReadyBytes,
      heapAfterGcBytes,
      rendererPssBytes,
      clickToPanelMs,
      clickNote,
      frameP50Ms,
      frameP95Ms,
      frameMaxMs,
      drawMaxMs,
      longestDuringInteractionMs,
      viewMoved,
    };
  } finally {
    await context.close();
  }
}

// ---- one size -----------------------------------------------------------------------------------

interface Dag {
  names: string[];
  runs: { id: string[]; name: number[] };
}

interface SizeResult {
  n: number;
  storeS: number;
  dagMs: number;
  dagBytes: number;
  loads: Load[];
}

async function measureSize(browser: Browser, browserPid: number, n: number, repeat: number): Promise<SizeResult> {
  const home = await makeHome('sematic-bench-ui-');
  let server: Server | undefined;
  try {
    const t0 = performance.now();
    const rootId = await runPipeline(home, 'fanout', [String(n)]);
    const storeS = (performance.now() - t0) / 1000;
    server = await startServer(home);

    const times: number[] = [];
    let dagBytes = 0;
    let dag: Dag | undefined;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const res = await fetch(`${server.url}/api/v1/runs/${rootId}/dag`);
      const body = await res.text();
      times.push(performance.now() - t);
      if (!res.ok) throw new Error(`GET /api/v1/runs/${rootId}/dag: ${res.status} ${body.slice(0, 300)}`);
      dagBytes = Buffer.byteLength(body);
      dag = JSON.parse(body) as Dag;
    }
    const incName = dag!.names.indexOf('inc');
    const incIds = dag!.runs.id.filter((_, i) => dag!.runs.name[i] === incName).slice(0, 3_000);
    if (incIds.length === 0) throw new Error(`no 'inc' run in the /dag of ${rootId}`);
    await getJson(server.url, '/api/v1/ping');

    const loads: Load[] = [];
    for (let i = 0; i < repeat; i++) loads.push(await loadOnce(browser, browserPid, server, rootId, incIds));
    return { n, storeS, dagMs: median(times), dagBytes, loads };
  } finally {
    await server?.stop();
    await removeHome(home);
    if (server) await removeHome(server.logPath);
  }
}

// ---- output -------------------------------------------------------------------------------------

const fmtMs = (ms: number | null): string =>
  ms === null || !Number.isFinite(ms) ? '-' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
const fmtBytes = (b: number | null): string =>
  b === null || !Number.isFinite(b)
    ? '-'
    : b >= 1e6
      ? `${(b / 1e6).toFixed(1)} MB`
      : b >= 1e3
        ? `${(b / 1e3).toFixed(0)} KB`
        : `${b} B`;
const fmtN = (n: number): string => n.toLocaleString('en-US');

function med(loads: Load[], f: (l: Load) => number | null): number | null {
  const xs = loads.map(f).filter((x): x is number => x !== null && Number.isFinite(x));
  return xs.length ? median(xs) : null;
}

/** Sematic 0.41's dashboard, from /work/shared/notes/sematic-dashboard-at-scale.md. */
const SEMATIC = [
  { n: 100, api: '22 ms, 192 KB', drawnS: 3.5, longestS: 1.3, heapMB: 19, clickS: 0.3 },
  { n: 1_000, api: '235 ms, 1.9 MB', drawnS: 12.0, longestS: 6.9, heapMB: 156, clickS: 1.1 },
  { n: 3_000, api: '704 ms, 5.7 MB', drawnS: 95.7, longestS: 82, heapMB: 318, clickS: 3.4 },
];

function report(results: SizeResult[]): void {
  console.log('');
  console.log('| runs | /dag (Node) | /dag in page | ready | longest task to ready | JS heap at ready (after GC) | renderer PSS | click → panel | frames p50 / p95 / max | graph draw max | longest task in pan/zoom | mode, nodes |');
  console.log('|---:|---|---|---:|---:|---|---:|---:|---|---:|---:|---|');
  for (const r of results) {
    const l = r.loads;
    const moved = l.every((x) => x.viewMoved === false) ? ' (view did not move)' : '';
    console.log(
      `| ${fmtN(r.n)} | ${fmtMs(r.dagMs)}, ${fmtBytes(r.dagBytes)} | ${fmtMs(med(l, (x) => x.dagFetchMs))}, ${fmtBytes(med(l, (x) => x.dagTransferBytes))} ` +
        `| ${fmtMs(med(l, (x) => x.readyMs))} | ${fmtMs(med(l, (x) => x.longestBeforeReadyMs))} ` +
        `| ${fmtBytes(med(l, (x) => x.heapAtReadyBytes))} (${fmtBytes(med(l, (x) => x.heapAfterGcBytes))}) ` +
        `| ${fmtBytes(med(l, (x) => x.rendererPssBytes))} ` +
        `| ${l.some((x) => x.clickToPanelMs !== null) ? fmtMs(med(l, (x) => x.clickToPanelMs)) : l[0].clickNote} ` +
        `| ${fmtMs(med(l, (x) => x.frameP50Ms))} / ${fmtMs(med(l, (x) => x.frameP95Ms))} / ${fmtMs(med(l, (x) => x.frameMaxMs))}${moved} ` +
        `| ${fmtMs(med(l, (x) => x.drawMaxMs))} | ${fmtMs(med(l, (x) => x.longestDuringInteractionMs))} ` +
        `| ${l[0].renderMode}, ${fmtN(l[0].nodeCount)} |`,
    );
  }
  console.log('');
  console.log('Sematic 0.41, its own dashboard and server (notes/sematic-dashboard-at-scale.md; time until all nodes drawn):');
  console.log('| runs | graph API | all drawn | longest task | JS heap | click → panel |');
  console.log('|---:|---|---:|---:|---:|---:|');
  for (const s of SEMATIC)
    console.log(`| ${fmtN(s.n)} | ${s.api} | ${s.drawnS} s | ${s.longestS} s | ${s.heapMB} MB | ${s.clickS} s |`);
  const ours = results.find((r) => r.n === 1_000);
  if (ours) {
    const sem = SEMATIC[1];
    const ready = med(ours.loads, (x) => x.readyMs)!;
    const longest = med(ours.loads, (x) => x.longestBeforeReadyMs)!;
    const click = med(ours.loads, (x) => x.clickToPanelMs);
    const ratio = (theirs: number, mine: number | null): string =>
      mine === null || mine <= 0 ? '-' : `${(theirs / mine).toFixed(theirs / mine >= 10 ? 0 : 1)}x`;
    console.log('');
    console.log(
      `At 1,000 runs, Sematic ÷ ours: ready ${ratio(sem.drawnS * 1000, ready)}, longest task ` +
        `${ratio(sem.longestS * 1000, longest)}, page heap ${ratio(sem.heapMB * 1e6, med(ours.loads, (x) => x.heapAtReadyBytes))} ` +
        `(without the layout worker's), ` +
        `click → panel ${ratio(sem.clickS * 1000, click)}, graph payload ${ratio(1.9e6, ours.dagBytes)} smaller.`,
    );
  }
  const big = results.filter((r) => r.n > 3_000);
  if (big.length)
    console.log(
      `Sematic was not measured past 3,000 runs: its layout grows as N² (95.7 s at 3,000), and its graph API ` +
        `would send ~1.9 KB per run (${big.map((r) => `~${fmtBytes(r.n * 1900)} at ${fmtN(r.n)}`).join(', ')}).`,
    );
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const browserServer = await launchBrowserServer();
  const browserPid = browserServer.process().pid ?? -1;
  const browser = await connectBrowser(browserServer.wsEndpoint());
  console.log(
    `bench/ui_paint: ${CHROMIUM} ${browser.version()} headless, ${VIEWPORT.width}x${VIEWPORT.height}; ` +
      `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}); ${args.repeat} page loads per size, medians`,
  );
  const results: SizeResult[] = [];
  try {
    for (const n of args.sizes) {
      const r = await measureSize(browser, browserPid, n, args.repeat);
      results.push(r);
      const l = r.loads;
      console.log(
        `${fmtN(n)} runs: store built in ${r.storeS.toFixed(1)} s; /dag ${fmtMs(r.dagMs)} ${fmtBytes(r.dagBytes)}; ` +
          `ready ${l.map((x) => fmtMs(x.readyMs)).join(', ')}; click → panel ${l.map((x) => fmtMs(x.clickToPanelMs)).join(', ')}`,
      );
    }
  } finally {
    await browser.close();
    await browserServer.close();
  }
  report(results);
}

main().catch((err: unknown) => {
  console.error(`bench/ui_paint: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
