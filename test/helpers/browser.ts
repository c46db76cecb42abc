// Driving the training page in headless Chromium (Debian's package; WebGPU runs on SwiftShader there).
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CGH_CHROMIUM ?? '/usr/bin/chromium';

const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--enable-unsafe-swiftshader'];
const COMMON_FLAGS = ['--no-sandbox', '--disable-gpu-sandbox', '--disable-background-networking', '--headless=new'];

/** Chromium with WebGPU on SwiftShader, or (webgpu false) with its default flags, under which headless Chromium finds no adapter. */
export async function launchChromium(webgpu = true): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}; install it with apt-get install -y chromium (or set CGH_CHROMIUM to its path)`);
  return chromium.launch({ executablePath: CHROMIUM, args: [...(webgpu ? WEBGPU_FLAGS : []), ...COMMON_FLAGS] });
}

/** A fresh page with the console and uncaught errors collected for failure messages. */
export async function openPage(browser: Browser, url: string, initScript?: () => void): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  await page.goto(url);
  // Ready: either the adapter was found (Train enabled) or the page reported why it cannot train.
  await page.waitForFunction(() => !(document.getElementById('train') as HTMLButtonElement).disabled || !document.getElementById('fatal')!.hidden, null, { timeout: 60_000 });
  return { page, errors };
}

/** Fill the settings form: keys are input or select ids. */
export async function setSettings(page: Page, values: Record<string, string>): Promise<void> {
  for (const [id, value] of Object.entries(values)) {
    const tag = await page.$eval(`#${id}`, (e) => e.tagName);
    if (tag === 'SELECT') await page.selectOption(`#${id}`, value);
    else await page.fill(`#${id}`, value);
  }
}

/** Waits until the status line matches `pattern` or a message appears; returns the status text. */
export async function waitForStatus(page: Page, pattern: RegExp, timeout = 90_000): Promise<string> {
  await page.waitForFunction(
    ([source, flags]) => new RegExp(source, flags).test(document.getElementById('status')!.textContent ?? '') || !document.getElementById('message')!.hidden,
    [pattern.source, pattern.flags] as const,
    { timeout },
  );
  return (await page.textContent('#status')) ?? '';
}

export async function messageText(page: Page): Promise<string | null> {
  return page.$eval('#message', (e) => ((e as HTMLElement).hidden ? null : e.textContent));
}

/** Clicks a download button and returns the downloaded file's text. */
export async function downloadText(page: Page, buttonId: string): Promise<string> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#${buttonId}`)]);
  const { readFile } = await import('node:fs/promises');
  return readFile((await download.path())!, 'utf8');
}

export async function downloadBytes(page: Page, buttonId: string): Promise<Uint8Array> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#${buttonId}`)]);
  const { readFile } = await import('node:fs/promises');
  return new Uint8Array(await readFile((await download.path())!));
}

/** Number of points drawn for each series of a chart (from the SVG path data). */
export async function seriesPoints(page: Page, chartId: string): Promise<Record<string, number>> {
  return page.$$eval(`#${chartId} path[data-series]`, (paths) => Object.fromEntries(paths.map((p) => [p.getAttribute('data-series'), (p.getAttribute('d')?.match(/[ML]/g) ?? []).length])));
}
