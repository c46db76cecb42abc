import { readFileSync } from 'node:fs';

/** The version in package.json (recorded in every run's config). */
export function packageVersion(): string {
  return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
}
