import { resolve } from 'node:path';
import { findPython } from '../services/sagemaker';

/**
 * What every command module shares: the IO a command writes to, its parsed flags, and the errors that end a
 * command with exit code 2 (bad input: one line, no stack trace).
 */

export interface CliIO {
  readonly stdout: { write(s: string): unknown; isTTY?: boolean };
  readonly stderr: { write(s: string): unknown; isTTY?: boolean };
  readonly cwd: string;
  /** Standard input (`--body -`). @default process.stdin */
  readonly stdin?: NodeJS.ReadableStream;
}

/** `--name value` / `--name=value` options (strings) and `--name` switches (true). */
export type Flags = Readonly<Record<string, string | true>>;

/**
 * One command of the CLI (Contract B in docs/architecture.md): its own module under local/commands/, one
 * dispatch line and one HELP section in local/cli.ts.
 */
export interface Command {
  /** Options that take a value. */
  readonly valueFlags?: readonly string[];
  /** Options that are switches. */
  readonly booleanFlags?: readonly string[];
  /** Runs the command; resolves with the exit code. Throw UsageError (or a ConfigError) for bad input. */
  run(flags: Flags, io: CliIO): Promise<number>;
}

/** The config file `--config` names, absolute (relative to where the user is), or undefined without one. */
export function configFileOf(flags: Flags, io: Pick<CliIO, 'cwd'>): string | undefined {
  return typeof flags.config === 'string' ? resolve(io.cwd, flags.config) : undefined;
}

/** Bad usage or bad input: exit 2 with the message on one line. */
export class UsageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UsageError';
  }
}

export class PythonMissing extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PythonMissing';
  }
}

/** A Python that imports scikit-learn (the SageMaker server's own search), or a clear PythonMissing. */
export function findPythonWithSklearn(): string {
  try {
    return findPython();
  } catch (err) {
    throw new PythonMissing((err as Error).message);
  }
}
