import fs from 'node:fs';
import path from 'node:path';
import type { RowLike, RunRecord } from './verdict.js';

/**
 * A run folder as verdicts read it: the seed from config.json, the complete lines of metrics.jsonl, and
 * whether summary.json exists (the run finished). A dead-unit fraction in summary.json is carried along.
 * Returns null when the folder holds no config.json (not a run).
 */
export function loadRunRecord(dir: string): RunRecord | null {
  const configFile = path.join(dir, 'config.json');
  if (!fs.existsSync(configFile)) return null;
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { seed?: number };
  const metrics = path.join(dir, 'metrics.jsonl');
  const text = fs.existsSync(metrics) ? fs.readFileSync(metrics, 'utf8') : '';
  const end = text.lastIndexOf('\n');
  const rows = end < 0 ? [] : text.slice(0, end).split('\n').map((l) => JSON.parse(l) as RowLike);
  const summaryFile = path.join(dir, 'summary.json');
  const summary = fs.existsSync(summaryFile) ? (JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as { deadFraction?: number }) : null;
  const record: RunRecord = { name: path.basename(dir), seed: Number(config.seed ?? 0), finished: summary !== null, rows };
  if (typeof summary?.deadFraction === 'number') record.deadFraction = summary.deadFraction;
  return record;
}
