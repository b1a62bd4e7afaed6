#!/usr/bin/env node
/**
 * relearn's reference CDK app (`cdk synth`, `cdk deploy`). The only place that reads context or the
 * environment: the config file comes from context `config` (default ./relearn.config.json; a missing file
 * means defaults), and a bad config prints one line per bad field and exits non-zero.
 */
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildRelearnApp } from '../lib/app';
import { checkConfigPaths, ConfigFileError, configBaseDir, loadConfigFile } from '../lib/config-file';
import { ConfigError } from '../lambdas/shared/config';

const app = new App();
const configPath = path.resolve(String(app.node.tryGetContext('config') ?? 'relearn.config.json'));
// Relative paths in the config are relative to the config file's folder (lib/config-file.ts), wherever cdk runs.
const baseDir = configBaseDir(configPath, process.cwd());

/** A bad config, a missing path in it or a bad curated schema file: the message names the file and the field; no stack trace. */
function fail(err: unknown): never {
  console.error((err as Error).message);
  process.exit(1);
}

let config;
try {
  config = loadConfigFile(configPath);
  checkConfigPaths(config, baseDir, configPath);
} catch (err) {
  fail(err);
}
try {
  // Deploy-time account/region come from the CLI's credentials when present; synth stays environment-agnostic.
  buildRelearnApp(app, config, { appRoot: baseDir });
} catch (err) {
  if (err instanceof ConfigError || err instanceof ConfigFileError) fail(err);
  throw err;
}
app.synth();
