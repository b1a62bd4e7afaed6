import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';

/** Files and folders never shipped to SageMaker (caches, tests' leftovers, dotfiles). */
const EXCLUDED = [/(^|\/)__pycache__(\/|$)/, /(^|\/)\.[^/]+/, /\.py[co]$/, /(^|\/)\.pytest_cache(\/|$)/];

/** Every file under `dir`, relative and sorted, so the archive's order never depends on the filesystem. */
export function listSourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (EXCLUDED.some((re) => re.test(child))) continue;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) out.push(child);
    }
  };
  walk('');
  return out.sort();
}

/**
 * Packages a script-mode source directory into `sourcedir.tar.gz` the way the SageMaker SDK ships one,
 * but deterministically: sorted entries, fixed mtime, no owner/host metadata, normalized modes, and a gzip
 * header without a timestamp. The same sources give the same bytes, so the S3 asset (and the template) only
 * change when the code does. Returns the archive's path (in a temp folder named by its content hash).
 */
export function packageSourceDir(sourceDir: string): string {
  const files = listSourceFiles(sourceDir);
  const contentHash = createHash('sha256');
  for (const f of files) {
    contentHash.update(f).update('\0').update(fs.readFileSync(path.join(sourceDir, f))).update('\0');
  }
  const outDir = path.join(os.tmpdir(), `relearn-sourcedir-${contentHash.digest('hex').slice(0, 16)}`);
  const file = path.join(outDir, 'sourcedir.tar.gz');
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(outDir, { recursive: true });
  const partial = `${file}.${process.pid}.tmp`;
  tar.create(
    {
      file: partial,
      cwd: sourceDir,
      sync: true,
      gzip: { level: 9 },
      portable: true,
      noDirRecurse: true,
      mtime: new Date(0),
      onWriteEntry: (entry) => {
        // Only the executable bit survives: umask and checkout differences must not change the bytes.
        if (entry.stat) entry.stat.mode = entry.stat.mode & 0o111 ? 0o100755 : 0o100644;
      },
    },
    files,
  );
  fs.renameSync(partial, file);
  return file;
}
