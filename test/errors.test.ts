import { buildSync } from 'esbuild';
import { join } from 'node:path';
import * as errors from '../lambdas/shared/errors';

describe('error names (the Retry/Catch contract)', () => {
  const names = Object.entries(errors)
    .filter(([, v]) => typeof v === 'function' && v !== errors.RelearnError)
    .map(([k]) => k);

  test('every error class carries its own name in source', () => {
    expect(names.length).toBeGreaterThanOrEqual(9);
    for (const name of names) {
      const Ctor = (errors as unknown as Record<string, new (m: string) => Error>)[name];
      expect(new Ctor('x').name).toBe(name);
    }
  });

  test('survive minification, as the Lambdas are bundled', () => {
    // GIVEN the errors module bundled and minified the way the pipeline stack bundles handlers
    const out = buildSync({
      entryPoints: [join(__dirname, '../lambdas/shared/errors.ts')],
      bundle: true,
      minify: true,
      platform: 'node',
      format: 'cjs',
      write: false,
    });
    const module_ = { exports: {} as Record<string, new (m: string) => Error> };
    new Function('module', 'exports', out.outputFiles[0].text)(module_, module_.exports);
    const mod = module_.exports;
    // WHEN / THEN each exported error still reports its contract name
    for (const name of names) expect(new mod[name]('x').name).toBe(name);
  });
});
