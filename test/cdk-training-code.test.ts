import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listSourceFiles, packageSourceDir } from '../lib/training-code';

describe('packageSourceDir: the deterministic sourcedir.tar.gz', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relearn-src-'));
    fs.mkdirSync(path.join(dir, 'pkg', '__pycache__'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'train.py'), 'print("train")\n');
    fs.writeFileSync(path.join(dir, 'pkg', 'util.py'), 'X = 1\n');
    fs.writeFileSync(path.join(dir, 'pkg', '__pycache__', 'util.cpython-311.pyc'), 'junk');
    fs.writeFileSync(path.join(dir, '.env'), 'SECRET=1');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('ships the sources only, sorted, without caches or dotfiles', () => {
    expect(listSourceFiles(dir)).toEqual(['pkg/util.py', 'train.py']);
    const archive = packageSourceDir(dir);
    const listed = spawnSync('tar', ['tzvf', archive], { encoding: 'utf8' }).stdout.trim().split('\n');
    expect(listed.map((l) => l.split(/\s+/).pop())).toEqual(['pkg/util.py', 'train.py']);
    // fixed owner, mode and mtime
    for (const line of listed) expect(line).toMatch(/^-rw-r--r-- 0\/0 .* 1970-01-01 00:00 /);
  });

  test('the same sources give the same bytes, whatever their mtimes and modes', () => {
    const first = fs.readFileSync(packageSourceDir(dir));
    fs.rmSync(path.dirname(packageSourceDir(dir)), { recursive: true, force: true });
    fs.utimesSync(path.join(dir, 'train.py'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    fs.chmodSync(path.join(dir, 'pkg', 'util.py'), 0o664);
    const second = fs.readFileSync(packageSourceDir(dir));
    expect(second.equals(first)).toBe(true);
  });

  test('a change in a source gives a different archive', () => {
    const first = packageSourceDir(dir);
    fs.writeFileSync(path.join(dir, 'train.py'), 'print("train v2")\n');
    expect(packageSourceDir(dir)).not.toBe(first);
  });
});
