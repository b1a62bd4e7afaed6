import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LandingWatcher } from '../local/watch';

/** relearn local watch's folder side (local/watch.ts): what it uploads, when, and what it remembers. */
let dir: string;
let landing: string;
const uploaded: string[] = [];
const watcher = () => new LandingWatcher(landing, join(dir, 'state', 'landed.json'), async (_file, rel) => void uploaded.push(rel));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'relearn-landing-'));
  landing = join(dir, 'landing');
  mkdirSync(join(landing, 'day1'), { recursive: true });
  uploaded.length = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('a file is uploaded once it held still for a scan; temporary names and dotfiles never', async () => {
  const w = watcher();
  writeFileSync(join(landing, 'day1', 'a.csv'), 'id,x\n1,2\n');
  writeFileSync(join(landing, 'day1', 'b.csv.tmp'), 'id,x\n');
  writeFileSync(join(landing, 'day1', '.hidden.csv'), 'id,x\n');
  writeFileSync(join(landing, 'day1', 'c.csv.part'), 'id,x\n');
  await w.scan();
  expect(uploaded).toEqual([]); // seen once: it may still be growing
  await w.scan();
  expect(uploaded).toEqual(['day1/a.csv']);
  await w.scan();
  expect(uploaded).toEqual(['day1/a.csv']); // unchanged: not again
});

test('a file still being written waits; a changed file is uploaded again; a restart uploads only what changed', async () => {
  const w = watcher();
  const f = join(landing, 'day1', 'growing.csv');
  writeFileSync(f, 'id,x\n');
  await w.scan();
  writeFileSync(f, 'id,x\n1,2\n'); // it grew between the scans
  await w.scan();
  expect(uploaded).toEqual([]);
  await w.scan();
  expect(uploaded).toEqual(['day1/growing.csv']);
  // rewritten with new content (and a new mtime)
  writeFileSync(f, 'id,x\n1,2\n3,4\n');
  utimesSync(f, new Date(), new Date(Date.now() + 5000));
  await w.scan();
  await w.scan();
  expect(uploaded).toEqual(['day1/growing.csv', 'day1/growing.csv']);
  // a new watcher (a restart) remembers what was uploaded
  writeFileSync(join(landing, 'day1', 'new.csv'), 'id,x\n5,6\n');
  const again = watcher();
  await again.scan();
  await again.scan();
  expect(uploaded).toEqual(['day1/growing.csv', 'day1/growing.csv', 'day1/new.csv']);
});
