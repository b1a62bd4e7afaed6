import * as fs from 'node:fs';
import { parseConfig, RelearnConfig } from '../lambdas/shared/config';

/**
 * Reads a relearn configuration file: a missing file means "all defaults"; a file that is not JSON or does not
 * pass the schema throws (ConfigError lists every bad field, each naming the field).
 */
export function loadConfigFile(file: string): RelearnConfig {
  if (!fs.existsSync(file)) return parseConfig({}, `${file} (not found: defaults)`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`Invalid relearn configuration (${file}): not JSON: ${(err as Error).message}`);
  }
  return parseConfig(raw, file);
}
