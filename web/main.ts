// The training page: reads the settings, loads the data, runs a TrainingSession and shows its progress.
import { getGpu } from '../engine/context.js';
import type { Gpu } from '../engine/gpu.js';
import type { Dataset } from '../engine/data/dataset.js';
import { parameterCount } from '../models/model.js';
import { modelNames } from '../models/registry.js';
import { RULE_NAMES, ruleNamed, validateRuleOptions, type RuleName } from '../experiments/rules/index.js';
import { parseNoiseLevel } from '../experiments/run/label-noise.js';
import { defaultSampleSize } from '../experiments/run/eval-sets.js';
import type { ScheduleName } from '../experiments/run/schedule.js';
import { LineChart, type ChartData } from './chart.js';
import { keepFormInUrl, formToQuery, queryToForm } from './form-url.js';
import { RunStore, type StoredRun } from './run-store.js';
import { checkRunSettings, DATASET_SIZES, settingsWarnings } from '../experiments/run/settings-check.js';
import { pickedFilesDataset, servedMnistDataset } from './data-source.js';
import { TrainingSession, type PageConfig, type Progress, type Row } from './session.js';
import { downloadBytes, downloadText, runFileName } from './download.js';
import { trainCommandLine } from './cli-command.js';

const EVAL_BATCH_SIZE = 1000;

const $ = <T extends HTMLElement = HTMLInputElement>(id: string) => document.getElementById(id) as T;

/** A setting the user has to change; shown as the page's message. */
class SettingsError extends Error {}

const ui = {
  form: $<HTMLFormElement>('settings'),
  fieldsets: () => [...document.querySelectorAll<HTMLFieldSetElement>('#settings fieldset')],
  train: $<HTMLButtonElement>('train'),
  stop: $<HTMLButtonElement>('stop'),
  resume: $<HTMLButtonElement>('resume'),
  downloads: [$<HTMLButtonElement>('download-metrics'), $<HTMLButtonElement>('download-config'), $<HTMLButtonElement>('download-checkpoint')],
  message: $<HTMLDivElement>('message'),
  fatal: $<HTMLDivElement>('fatal'),
  adapter: $<HTMLParagraphElement>('adapter'),
  progress: $<HTMLProgressElement>('progress'),
  rate: $<HTMLSpanElement>('rate'),
  status: $<HTMLParagraphElement>('status'),
  cliLine: $<HTMLParagraphElement>('cli-line'),
};

const accuracyChart = new LineChart($('accuracy-chart'), {
  title: 'Accuracy',
  xLabel: 'epochs',
  yLabel: 'accuracy',
  note: 'train: a fixed sample of the training set, scored against the labels it trains on (the noisy ones under label noise)',
  yRange: [0, 1],
  yFormat: (v) => `${Math.round(v * 100)}%`,
  series: [
    { key: 'train-sample', label: 'train', color: '#2f6fd6' },
    { key: 'test', label: 'test', color: '#d9822b' },
    { key: 'pristine', label: 'pristine', color: '#2e9d5b', dashed: true },
    { key: 'corrupt', label: 'corrupt', color: '#c23b3b', dashed: true },
  ],
});
const lossChart = new LineChart($('loss-chart'), {
  title: 'Loss',
  xLabel: 'epochs',
  yLabel: 'cross-entropy',
  yFormat: (v) => v.toFixed(2),
  series: [
    { key: 'run', label: 'training steps', color: '#8a93a6', smooth: true },
    { key: 'train-sample', label: 'train', color: '#2f6fd6' },
    { key: 'test', label: 'test', color: '#d9822b' },
    { key: 'pristine', label: 'pristine', color: '#2e9d5b', dashed: true },
    { key: 'corrupt', label: 'corrupt', color: '#c23b3b', dashed: true },
  ],
});

let gpu: Gpu | null = null;
let session: TrainingSession | null = null;
let runConfig: Record<string, unknown> | null = null;
let busy = false;
let lastProgress: Progress | null = null;
/** Examples per second of the latest group of training steps (evaluations excluded). */
let lastRate: number | null = null;
let renderQueued = false;
/** Latest accuracy of each evaluated sample, for the status line. */
let latest: Record<string, number> = {};
/** Where the current stretch of training started, for the ETA: time and step. */
let stretch: { t: number; step: number } | null = null;
/** The previous run's curves, drawn faintly behind the current one's. */
let previous: { label: string; accuracy: ChartData; loss: ChartData } | null = null;
/** The page's runs in IndexedDB (null where the browser offers none). */
let store: RunStore | null = null;
let storedId: string | null = null;
let storedQuery: string | null = null;

function showMessage(text: string | null): void {
  ui.message.textContent = text ?? '';
  ui.message.hidden = !text;
}

/**
 * One line for the message box. Messages shared with the CLI name its flags ("use --batch-size 60 or
 * less"); on the page they read as the settings they stand for ("use batch size 60 or less").
 */
function errorText(e: unknown): string {
  const err = e instanceof Error ? e : new Error(String(e));
  const line = (err.message || err.name).split('\n')[0].replace(/--([a-z][a-z0-9-]*)/g, (_, flag: string) => flag.replace(/-/g, ' '));
  const internal = ['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError'].includes(err.name);
  return internal ? `internal error: ${line} (the browser console shows where)` : line;
}

function updateButtons(): void {
  const running = !!session?.isRunning;
  ui.train.disabled = !gpu || busy || running;
  ui.stop.disabled = !running;
  ui.resume.disabled = busy || running || !session || session.done || session.failed;
  for (const b of ui.downloads) b.disabled = !session;
  for (const f of ui.fieldsets()) f.disabled = running || busy;
}

// ---- settings ------------------------------------------------------------------------------

function intField(id: string, name: string, min: number, optional = false): number | undefined {
  const text = $(id).value.trim();
  if (text === '' && optional) return undefined;
  const v = Number(text);
  if (text === '' || !Number.isSafeInteger(v) || v < min) throw new SettingsError(`${name} must be a whole number of at least `
    + `${min}${text === '' ? '' : `, not "${text}"`}`);
  return v;
}

function numberField(id: string, name: string, check: (v: number) => boolean, range: string): number {
  const text = $(id).value.trim();
  const v = Number(text);
  if (text === '' || !Number.isFinite(v) || !check(v)) throw new SettingsError(`${name} must be ${range}${text === '' ? '' : `, not "${text}"`}`);
  return v;
}

function readSettings(): Omit<PageConfig, 'dataset' | 'sampleSize'> & { sampleSize?: number } {
  const hiddenText = $('hidden').value.trim();
  if (hiddenText !== '' && !/^\d+(\s*,\s*\d+)*$/.test(hiddenText)) {
    throw new SettingsError(`hidden layers must be widths separated by commas, such as 256,256,256, not "${hiddenText}"`);
  }
  const hidden = hiddenText === '' ? [] : hiddenText.split(',').map((w) => Number(w.trim()));
  if (hidden.some((w) => w < 1)) throw new SettingsError('every hidden layer needs a width of at least 1');
  let noise: number;
  try {
    noise = parseNoiseLevel($('noise').value, 'label noise');
  } catch (e) {
    throw new SettingsError((e as Error).message);
  }
  const seed = intField('seed', 'the seed', 0)!;
  if (seed > 0xffffffff) throw new SettingsError(`the seed must be below 2^32, not ${seed}`);
  const rule = $<HTMLSelectElement>('rule').value as RuleName;
  const settings = {
    model: $<HTMLSelectElement>('model').value,
    hidden,
    width: numberField('width', 'the width multiplier', (v) => v > 0, 'a number above 0, such as 1 or 0.25'),
    init: $<HTMLSelectElement>('init').value as PageConfig['init'],
    trainSubset: intField('train-subset', 'the number of training examples', 1, true),
    testSubset: intField('test-subset', 'the number of test examples', 1, true),
    epochs: intField('epochs', 'epochs', 1)!,
    batchSize: intField('batch-size', 'the batch size', 1)!,
    evalBatchSize: EVAL_BATCH_SIZE,
    lr: numberField('lr', 'the learning rate', (v) => v > 0, 'a number above 0, such as 0.1'),
    schedule: $<HTMLSelectElement>('schedule').value as ScheduleName,
    stepSize: intField('step-size', 'the epochs per ÷10 step', 1)!,
    momentum: numberField('momentum', 'the momentum', (v) => v >= 0, 'a number of at least 0, such as 0.9'),
    weightDecay: numberField('weight-decay', 'the weight decay', (v) => v >= 0, 'a number of at least 0, such as 0.0005'),
    rule,
    groups: intField('groups', 'the number of groups', 1)!,
    winsor: ruleNamed(rule).options.includes('winsor') ? intField('winsor', 'the winsorization level s', 0) : undefined,
    m3Mode: $<HTMLSelectElement>('m3-mode').value as PageConfig['m3Mode'],
    seed,
    noise,
    sampleSize: intField('sample-size', 'the evaluation sample', 1, true),
  };
  try {
    validateRuleOptions({ rule, groups: settings.groups, winsor: settings.winsor ?? 0, m3Mode: settings.m3Mode ?? 'one-pass', batchSize: settings.batchSize,
      momentum: settings.momentum });
  } catch (e) {
    throw new SettingsError((e as Error).message);
  }
  return settings;
}

/**
 * The settings, checked with the same rules as cgh train's flags (and against MNIST's sizes before its download);
 * throws a SettingsError naming the setting.
 */
function checkedSettings(): ReturnType<typeof readSettings> {
  const settings = readSettings();
  try {
    checkRunSettings(settings, pickedFiles() === null ? DATASET_SIZES.mnist : undefined);
  } catch (e) {
    throw new SettingsError(errorText(e));
  }
  return settings;
}

/** On every edit: the form's problem, or no message (an old one goes), and Train only for valid settings. */
function validateForm(): boolean {
  if (busy || session?.isRunning) return true;
  try {
    const warnings = settingsWarnings(checkedSettings());
    showMessage(warnings.length ? errorText(new Error(`${warnings.join('; ')} (Train still runs it)`)) : null);
    return true;
  } catch (e) {
    showMessage(errorText(e));
    return false;
  } finally {
    updateButtons();
  }
}

function pickedFiles(): File[] | null {
  if ($<HTMLInputElement>('settings').querySelector<HTMLInputElement>('input[name=source]:checked')?.value !== 'files') return null;
  return [...document.querySelectorAll<HTMLInputElement>('#file-pickers input[type=file]')].map((i) => i.files?.[0] as File);
}

async function loadData(files: File[] | null): Promise<Dataset> {
  if (!files) {
    ui.status.textContent = 'Loading MNIST…';
    return servedMnistDataset();
  }
  ui.status.textContent = 'Reading the IDX files…';
  return pickedFilesDataset(files);
}

// ---- running ---------------------------------------------------------------------------------

async function startRun(): Promise<void> {
  if (!gpu || busy || session?.isRunning) return;
  showMessage(null);
  busy = true;
  updateButtons();
  try {
    const settings = checkedSettings();
    const files = pickedFiles();
    const ds = await loadData(files);
    const n = settings.trainSubset ?? ds.train.n;
    if (settings.trainSubset !== undefined && settings.trainSubset > ds.train.n) {
      throw new SettingsError(`the dataset has ${ds.train.n} training examples, fewer than the ${settings.trainSubset} asked for; use ${ds.train.n} or less`);
    }
    if (settings.testSubset !== undefined && settings.testSubset > ds.test.n) {
      throw new SettingsError(`the dataset has ${ds.test.n} test examples, fewer than the ${settings.testSubset} asked for; use ${ds.test.n} or less`);
    }
    if (settings.batchSize > n) {
      throw new SettingsError(`the batch size ${settings.batchSize} is larger than the ${n} training examples; use a batch size of ${n} or less, or more `
        + `training examples`);
    }
    const config: PageConfig = {
      ...settings,
      dataset: files ? 'idx-files' : 'mnist',
      ...(files ? { dataFiles: files.map((f) => f.name) } : {}),
      sampleSize: settings.sampleSize ?? defaultSampleSize(n),
    };
    ui.status.textContent = 'Compiling the model…';
    await new Promise((r) => setTimeout(r, 0));
    const next = new TrainingSession(gpu, ds, config, { onRow, onProgress, onCheckpoint: () => void saveRun('running') });
    session = next;
    runConfig = {
      command: 'train',
      ...config,
      trainExamples: n,
      testExamples: next.test.n,
      parameters: parameterCount(next.setup.model),
      adapterReport: gpu.report,
      source: 'browser',
    };
    showCommandLine(config);
    keepPrevious();
    accuracyChart.clear(config.epochs);
    lossChart.clear(config.epochs);
    showOverlay();
    storedQuery = formToQuery(ui.form).toString();
    storedId = `${new Date().toISOString()} ${storedQuery}`;
    lastProgress = null;
    lastRate = null;
    latest = {};
    busy = false;
    await runSession();
  } catch (e) {
    busy = false;
    showMessage(errorText(e));
    ui.status.textContent = session ? statusText() : 'Pick the settings and press Train.';
  } finally {
    busy = false;
    updateButtons();
  }
}

async function runSession(): Promise<void> {
  if (!session) return;
  const s = session;
  stretch = { t: performance.now(), step: s.currentStep };
  const pending = s.run();
  updateButtons();
  try {
    const how = await pending;
    ui.status.textContent = how === 'done' ? `Done. ${statusText()}` : `Stopped. ${statusText()} Resume continues from here.`;
    void saveRun(how === 'done' ? 'done' : 'stopped');
  } catch (e) {
    showMessage(errorText(e));
    ui.status.textContent = `Stopped by an error. ${statusText()}`;
    void saveRun('failed');
  } finally {
    stretch = null;
    updateButtons();
    render();
  }
}

/** Copies the run (settings, rows, last epoch's checkpoint) to IndexedDB, so that a reload can continue it. */
async function saveRun(status: 'running' | 'stopped' | 'done' | 'failed'): Promise<void> {
  if (!store || !session || !storedId || !runConfig) return;
  try {
    await store.save({
      id: storedId, query: storedQuery ?? formToQuery(ui.form).toString(), config: runConfig, rows: [...session.rows] as unknown as Record<string, unknown>[],
      checkpoint: session.storedCheckpoint(), epoch: Math.floor(session.currentStep / session.stepsPerEpoch), status, savedAt: Date.now(),
    });
    await store.prune(5);
  } catch (e) {
    console.warn(`cannot keep the run in this browser's storage: ${errorText(e)}`);
  }
}

/** Offers to continue the latest unfinished run this browser kept (a reload, a closed tab). */
async function offerStoredRun(): Promise<void> {
  store = await RunStore.open();
  const r = store && (await store.latestUnfinished());
  const box = $<HTMLDivElement>('resume-stored');
  if (!r || !r.checkpoint) { box.hidden = true; return; }
  const c = r.config as { epochs?: number; model?: string; dataset?: string };
  const resume = document.createElement('button');
  resume.type = 'button';
  resume.id = 'resume-stored-run';
  resume.textContent = 'Continue it';
  const discard = document.createElement('button');
  discard.type = 'button';
  discard.textContent = 'Discard it';
  box.replaceChildren(`This browser kept an unfinished run (${c.model}, ${r.epoch} of ${c.epochs} epochs, ${new Date(r.savedAt).toLocaleString()}). `,
    resume, ' ', discard);
  box.hidden = false;
  discard.addEventListener('click', () => { void store!.remove(r.id); box.hidden = true; });
  resume.addEventListener('click', () => { box.hidden = true; void continueStored(r); });
}

async function continueStored(r: StoredRun): Promise<void> {
  if (!gpu || busy || session?.isRunning) return;
  queryToForm(ui.form, new URLSearchParams(r.query));
  history.replaceState(history.state, '', `${location.pathname}${r.query ? `?${r.query}` : ''}`);
  const config = r.config as unknown as PageConfig;
  // Picked files are not kept by the browser: the same four (by name and size of the splits) must be picked again.
  const files = config.dataset === 'mnist' ? null : pickedFiles();
  const names = config.dataFiles ?? [];
  if (config.dataset !== 'mnist' && (!files || files.some((f, i) => f?.name !== names[i]))) {
    showMessage(`the kept run trained on IDX files picked from disk (${names.join(', ')}), which the browser does not keep; `
      + 'pick the same files under "IDX files" and press Continue again');
    void offerStoredRun();
    return;
  }
  busy = true;
  updateButtons();
  try {
    const ds = await loadData(files);
    const trained = Number(r.config.trainExamples);
    if (config.trainSubset === undefined ? ds.train.n !== trained : ds.train.n < trained) {
      throw new SettingsError(`the picked files hold ${ds.train.n} training examples, but the kept run trained on ${trained}; pick the files it trained on`);
    }
    ui.status.textContent = 'Compiling the model…';
    keepPrevious();
    const next = new TrainingSession(gpu, ds, config, { onRow, onProgress, onCheckpoint: () => void saveRun('running') },
      { rows: r.rows as unknown as Row[], checkpoint: r.checkpoint! });
    session = next;
    runConfig = r.config;
    storedId = r.id;
    storedQuery = r.query;
    showCommandLine(config);
    accuracyChart.clear(config.epochs);
    lossChart.clear(config.epochs);
    showOverlay();
    latest = {};
    for (const row of next.rows) onRow(row);
    busy = false;
    await runSession();
  } catch (e) {
    showMessage(errorText(e));
  } finally {
    busy = false;
    updateButtons();
  }
}

/** Keeps the current run's curves to show behind the next one. */
function keepPrevious(): void {
  if (!session || !runConfig) return;
  const c = session.config;
  previous = { label: `previous run (${c.model}, ${c.rule}, noise ${Math.round((c.noise ?? 0) * 100)}%, seed ${c.seed})`, accuracy: accuracyChart.data(),
    loss: lossChart.data() };
}

function showOverlay(): void {
  const on = $<HTMLInputElement>('overlay').checked && previous !== null;
  accuracyChart.setOverlay(previous?.label ?? '', on ? previous!.accuracy : null);
  lossChart.setOverlay(previous?.label ?? '', on ? previous!.loss : null);
}

function showCommandLine(config: PageConfig): void {
  const cli = trainCommandLine(config);
  if ('line' in cli) {
    const code = document.createElement('code');
    code.textContent = cli.line;
    ui.cliLine.replaceChildren('The same run from the command line: ', code);
  } else {
    ui.cliLine.textContent = `No command line repeats this run: ${cli.why}.`;
  }
  ui.cliLine.hidden = false;
}

function onRow(row: Row): void {
  if (row.kind === 'eval') {
    accuracyChart.add(row.epoch, { [row.set]: row.acc });
    lossChart.add(row.epoch, { [row.set]: row.loss });
    latest[row.set] = row.acc;
    if (row.set === 'test' && row.top5 !== undefined) latest['test-top5'] = row.top5;
  } else if (row.kind === 'step' && session) {
    lossChart.add(row.step / session.stepsPerEpoch, { run: row.loss });
  }
  queueRender();
}

function onProgress(p: Progress): void {
  lastProgress = p;
  if (p.examplesPerS) lastRate = p.examplesPerS;
  queueRender();
}

function queueRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function statusText(): string {
  if (!session) return '';
  const p = lastProgress;
  const parts = [`epoch ${Math.min(session.config.epochs, Math.floor(session.currentStep / session.stepsPerEpoch) + 1)}/${session.config.epochs}`,
    `step ${session.currentStep}/${session.totalSteps}`];
  const shown = [['train-sample', 'train acc'], ['test', 'test acc'], ['test-top5', 'test top-5'], ['pristine', 'pristine'], ['corrupt', 'corrupt']];
  for (const [set, label] of shown) {
    if (latest[set] !== undefined) parts.push(`${label} ${(latest[set] * 100).toFixed(1)}%`);
  }
  if (session.stopping) parts.push('stopping at the next step or evaluation batch…');
  else if (p?.phase === 'evaluating' && session.isRunning) parts.push(evaluationText(p));
  const eta = etaSeconds();
  if (eta !== null && session.isRunning) parts.push(`about ${clockText(eta)} left`);
  return parts.join(' · ');
}

/** Which sets are being evaluated, and how far along. */
function evaluationText(p: Progress): string {
  const e = p.evaluated;
  if (!e) return 'evaluating…';
  const what = e.of === 'samples' ? 'the curves\' samples' : 'the epoch\'s training and test sets';
  const count = (n: number) => n.toLocaleString('en');
  return `evaluating ${what}: ${count(e.done)} of ${count(e.total)} examples (${Math.floor((100 * e.done) / e.total)}%)`;
}

/** The time left for the whole run from this stretch's pace (evaluations included). */
function etaSeconds(): number | null {
  if (!session || !stretch) return null;
  const steps = session.currentStep - stretch.step;
  if (steps <= 0) return null;
  return ((session.totalSteps - session.currentStep) * (performance.now() - stretch.t)) / 1000 / steps;
}

function clockText(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

function render(): void {
  accuracyChart.draw();
  lossChart.draw();
  if (!session) return;
  ui.progress.value = session.totalSteps ? session.currentStep / session.totalSteps : 0;
  ui.rate.textContent = lastRate ? `${Math.round(lastRate).toLocaleString('en')} examples/s` : '';
  if (session.isRunning) ui.status.textContent = statusText();
}

// ---- downloads ------------------------------------------------------------------------------

async function download(kind: 'metrics' | 'config' | 'checkpoint'): Promise<void> {
  if (!session) return;
  try {
    const name = (file: string) => runFileName({ ...session!.config, noise: session!.config.noise ?? 0 }, file);
    if (kind === 'metrics') downloadText(name('metrics.jsonl'), session.metricsJsonl(), 'application/x-ndjson');
    else if (kind === 'config') downloadText(name('config.json'), JSON.stringify(runConfig, null, 2) + '\n', 'application/json');
    else downloadBytes(name('checkpoint.safetensors'), await session.checkpoint());
  } catch (e) {
    showMessage(`cannot save the ${kind}: ${errorText(e)}`);
  }
}

// ---- wiring ---------------------------------------------------------------------------------

/** The option rows the chosen rule reads (its registry entry says which). */
function showRuleOptions(): void {
  const { options } = ruleNamed($<HTMLSelectElement>('rule').value);
  $('groups-row').hidden = !options.includes('groups');
  $('m3-mode-row').hidden = !options.includes('m3Mode');
  $('winsor-row').hidden = !options.includes('winsor');
}

function wire(): void {
  const model = $<HTMLSelectElement>('model');
  model.replaceChildren(...modelNames().map((m) => new Option(m, m)));
  const rule = $<HTMLSelectElement>('rule');
  rule.replaceChildren(...RULE_NAMES.map((r) => new Option(r, r)));
  rule.addEventListener('change', showRuleOptions);
  showRuleOptions();
  model.addEventListener('change', () => { $('hidden-row').hidden = model.value !== 'mlp'; });
  $<HTMLSelectElement>('schedule').addEventListener('change', (e) => {
    $('step-size-row').hidden = (e.target as HTMLSelectElement).value !== 'step';
  });
  for (const radio of document.querySelectorAll<HTMLInputElement>('input[name=source]')) {
    radio.addEventListener('change', () => { $('file-pickers').hidden = pickedFiles() === null; });
  }
  ui.form.addEventListener('submit', (e) => {
    e.preventDefault();
    void startRun();
  });
  ui.stop.addEventListener('click', () => {
    session?.stop();
    ui.stop.disabled = true;
    ui.status.textContent = statusText();
  });
  ui.resume.addEventListener('click', () => {
    showMessage(null);
    void runSession();
  });
  $('smoothing').addEventListener('input', () => lossChart.setSmoothing(Number($('smoothing').value)));
  $('log-x').addEventListener('change', () => {
    accuracyChart.setLogX($('log-x').checked);
    lossChart.setLogX($('log-x').checked);
  });
  $('overlay').addEventListener('change', showOverlay);
  // Settings in the address: a reload or a shared link brings them back; they are checked as they are typed.
  const unplaced = queryToForm(ui.form, new URLSearchParams(location.search));
  showRuleOptions();
  $('hidden-row').hidden = model.value !== 'mlp';
  $('step-size-row').hidden = $<HTMLSelectElement>('schedule').value !== 'step';
  $('file-pickers').hidden = pickedFiles() === null;
  keepFormInUrl(ui.form, () => { validateForm(); });
  if (!validateForm()) { /* the message says what to change */ } else if (unplaced.length) {
    showMessage(`the address names settings this page does not have or values it does not offer (${unplaced.join(', ')}); they were left out`);
  }
  window.addEventListener('beforeunload', (e) => {
    if (!session?.isRunning) return;
    e.preventDefault();
    e.returnValue = '';
  });
  ui.downloads[0].addEventListener('click', () => void download('metrics'));
  ui.downloads[1].addEventListener('click', () => void download('config'));
  ui.downloads[2].addEventListener('click', () => void download('checkpoint'));
  updateButtons();
}

async function connect(): Promise<void> {
  try {
    if (!window.isSecureContext) {
      throw new Error(`browsers give WebGPU only to secure pages; open this page at http://localhost:${location.port || 80}/ on the machine running cgh `
        + `serve, or serve it over https`);
    }
    gpu = await getGpu();
    const r = gpu.report;
    ui.adapter.textContent = `Adapter: ${r.name} (${[r.vendor, r.architecture, r.backend].filter((v) => v && v !== 'unknown' && v !== r.name).join(', ')})`;
    gpu.device.lost.then((info) => {
      gpu = null;
      session?.stop();
      ui.fatal.textContent = `The GPU device was lost (${info.message || info.reason}); reload the page to train again.`;
      ui.fatal.hidden = false;
      updateButtons();
    });
  } catch (e) {
    ui.adapter.textContent = 'No WebGPU adapter.';
    ui.fatal.textContent = `This page cannot train here: ${errorText(e)}. Training from the command line works without a browser: cgh train --help.`;
    ui.fatal.hidden = false;
  }
  updateButtons();
}

wire();
void connect().then(offerStoredRun);
