import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig, RelearnConfig } from '../lambdas/shared/config';
import { PACKAGE_ROOT } from './package-root';

/**
 * Reading a relearn configuration file, and the one rule for the paths in it: **a relative path in the config
 * is relative to the folder of the config file** (`training.sourceDir`, `validation.schemaFile`), for `cdk synth`
 * (bin/app.ts) and local mode alike. An absent `training.sourceDir` means relearn's built-in training script,
 * found in relearn's own install (the package root, also when relearn is a dependency under node_modules).
 */

export { PACKAGE_ROOT };

/**
 * The built-in training script (relative to PACKAGE_ROOT), used when `training.sourceDir` is absent.
 * The general tabular script: it trains any CSV table from the run's schema (docs/training-contract.md).
 */
export const BUILTIN_TRAINING_SOURCE_DIR = 'training-scripts/tabular';

/** A config file that cannot be used as it is (missing, not JSON, a path in it that does not exist): one line. */
export class ConfigFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigFileError';
  }
}

/**
 * Reads a relearn configuration file: a missing file means "all defaults" (unless `required`); a file that is
 * not JSON throws ConfigFileError naming the line and column; one that does not pass the schema throws
 * ConfigError listing every bad field.
 */
export function loadConfigFile(file: string, opts: { required?: boolean } = {}): RelearnConfig {
  if (!fs.existsSync(file)) {
    if (opts.required) throw new ConfigFileError(`config file not found: ${file}`);
    return parseConfig({}, `${file} (not found: defaults)`);
  }
  return parseConfig(readJsonFile(file), file);
}

/** A JSON file's value; a syntax error names the file, line and column (JSON.parse gives only a character position). */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigFileError(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseJsonText(text, file);
}

/** JSON.parse with a message that says where: `<file>: not valid JSON at line L, column C: <what>`. */
export function parseJsonText(text: string, file: string): unknown {
  // A UTF-8 byte order mark (Windows editors) is not part of the JSON.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (err) {
    // V8 names the problem but gives a position only for some of them: find it ourselves.
    const what = (err as Error).message
      .replace(/ (?:in JSON )?at position \d+.*$/s, '')
      .replace(/, (?:\.\.\.)?".*$/s, '')
      .replace(/^Unexpected end of JSON input$/, 'the file ends before the JSON does')
      .replace(/\s+/g, ' ');
    const position = jsonErrorOffset(body);
    const before = body.slice(0, position);
    const line = before.split('\n').length;
    const column = position - before.lastIndexOf('\n');
    const trailingComma = /,\s*$/.test(before) && /^[}\]]/.test(body.slice(position)) ? ` (a comma before "${body[position]}" is not allowed in JSON)` : '';
    throw new ConfigFileError(`${file}: not valid JSON at line ${line}, column ${column}: ${what}${trailingComma}`);
  }
}

/** The offset of the first character where `text` stops being JSON (RFC 8259): a scanner for error messages only. */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (word: string) => {
    for (const c of word) if (text[i++] !== c) (i--, fail());
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail();
      const c = text[i];
      if (c === '"') return void i++;
      if (c < ' ') fail();
      if (c === '\\') {
        i++;
        if (text[i] === 'u') {
          for (let k = 1; k <= 4; k++) if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) (i += k, fail());
          i += 5;
        } else if ('"\\/bfnrt'.includes(text[i] ?? 'x')) i++;
        else fail();
      } else i++;
    }
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m || m[0] === '-' || m[0] === '') fail();
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') return void i++;
        fail();
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') return void i++;
        fail();
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number();
    fail();
  };
  try {
    value();
    ws();
    return i < text.length ? i : text.length;
  } catch (at) {
    return Math.min(at as number, text.length);
  }
}

/** The folder relative paths in a config are resolved against: the config file's own, else `fallback`. */
export function configBaseDir(configFile: string | undefined, fallback: string): string {
  return configFile ? path.dirname(path.resolve(configFile)) : path.resolve(fallback);
}

/** The training source directory, absolute: `training.sourceDir` relative to `baseDir`, or the built-in script. */
export function trainingSourceDirOf(config: RelearnConfig, baseDir: string): string {
  const dir = config.training.sourceDir;
  return dir === undefined ? path.join(PACKAGE_ROOT, BUILTIN_TRAINING_SOURCE_DIR) : path.resolve(baseDir, dir);
}

/** `validation.schemaFile`, absolute (relative to `baseDir`), if set. */
export function schemaFileOf(config: RelearnConfig, baseDir: string): string | undefined {
  const file = config.validation.schemaFile;
  return file === undefined ? undefined : path.resolve(baseDir, file);
}

/**
 * The paths a config names must exist: `training.sourceDir` a folder holding `training.entryPoint`, and
 * `validation.schemaFile` a file (its content is checked at synth). Throws ConfigFileError with one line that
 * names the field, what it says and where that led.
 */
export function checkConfigPaths(config: RelearnConfig, baseDir: string, source = 'the config'): void {
  const where = (field: string, value: string, resolved: string) =>
    `${field} '${value}' in ${source} (relative to ${baseDir}) is ${resolved}`;
  const sourceDir = trainingSourceDirOf(config, baseDir);
  const given = config.training.sourceDir;
  if (!fs.existsSync(sourceDir) || !fs.statSync(sourceDir).isDirectory()) {
    throw new ConfigFileError(
      given === undefined
        ? `relearn's built-in training script is missing: ${sourceDir} does not exist (a broken install?)`
        : `${where('training.sourceDir', given, sourceDir)}, which is not a folder: expected the folder of your training script`,
    );
  }
  const entry = path.join(sourceDir, config.training.entryPoint);
  if (!fs.existsSync(entry)) {
    throw new ConfigFileError(`training.entryPoint '${config.training.entryPoint}' is not in the training source folder ${sourceDir}: expected ${entry}`);
  }
  const schemaFile = schemaFileOf(config, baseDir);
  if (schemaFile && (!fs.existsSync(schemaFile) || !fs.statSync(schemaFile).isFile())) {
    throw new ConfigFileError(`${where('validation.schemaFile', config.validation.schemaFile!, schemaFile)}, which does not exist: expected a schema file (relearn local schema --out writes one)`);
  }
}
