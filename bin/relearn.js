#!/usr/bin/env node
'use strict';
/*
 * The `relearn` command (package.json "bin"). Local mode runs s3rver in this process, and s3rver's paginated
 * ListObjectsV2 uses DES continuation tokens, which OpenSSL 3 only offers through its legacy provider: so when
 * node was started without --openssl-legacy-provider, re-run it with the flag. Then load the CLI: relearn's
 * TypeScript sources through tsx in relearn's own repository (an edit is in the next run, no build step), the
 * compiled dist/local/cli.js where relearn is installed as a package (only compiled code is published).
 */
const fs = require('node:fs');
const path = require('node:path');

const hasLegacyProvider =
  process.execArgv.includes('--openssl-legacy-provider') || /(^|\s)--openssl-legacy-provider(\s|$)/.test(process.env.NODE_OPTIONS || '');

if (!hasLegacyProvider) {
  const { spawn } = require('node:child_process');
  const os = require('node:os');
  // The child runs in its own process group, so each signal reaches it exactly once, through us: a Ctrl-C in the
  // terminal (SIGINT to our group) or a SIGTERM to our group would otherwise reach it twice, and a second signal
  // means "quit at once" to `relearn local run`.
  const child = spawn(process.execPath, ['--openssl-legacy-provider', ...process.execArgv, __filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
    detached: true,
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    });
  }
  child.on('exit', (code, signal) => {
    process.exit(code !== null ? code : 128 + ((signal && os.constants.signals[signal]) || 1));
  });
  child.on('error', (err) => {
    console.error(`relearn: could not start node: ${err.message}`);
    process.exit(1);
  });
  return;
}

const root = path.join(__dirname, '..');
const sources = path.join(root, 'local', 'cli.ts');
let main;
if (fs.existsSync(sources)) {
  require('tsx/cjs/api').register();
  ({ main } = require(sources));
} else {
  ({ main } = require(path.join(root, 'dist', 'local', 'cli.js')));
}
main(process.argv.slice(2)).then(
  (code) => {
    // Exit once output is flushed: SDK sockets and timers must not keep a finished command alive.
    process.stdout.write('', () => process.exit(code));
  },
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  },
);
