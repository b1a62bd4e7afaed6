/**
 * Regenerates local/services/api-models/*.json: the subsets of botocore's official service models (the input
 * shapes of the operations relearn's local servers implement) that the local SageMaker, SageMaker runtime and
 * SNS servers validate every request against.
 *
 * Source, pinned: Debian 12 (bookworm)'s `awscli` 2.9.19-1, which bundles botocore's data. Without installing it:
 *
 *   apt-get download awscli=2.9.19-1 && dpkg-deb -x awscli_2.9.19-1_all.deb /tmp/awscli
 *   npx tsx scripts/extract-api-models.ts awscli_2.9.19-1_all.deb /tmp/awscli
 *
 * The .deb's sha256 is checked, and each model's sha256 is written into the subset's provenance.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const PACKAGE = { name: 'awscli', version: '2.9.19-1', distribution: 'Debian 12 (bookworm) main', sha256: 'def31284c1d8dab046504272f9f810ad17ef33cd5677984d9a1712a1e499b3af' };
const DATA = 'usr/lib/python3/dist-packages/awscli/botocore/data';

/** Operations the local servers implement (local/services/sagemaker/control-plane.ts, index.ts). */
export const MODELS = {
  sagemaker: {
    path: 'sagemaker/2017-07-24/service-2.json',
    operations: [
      'CreateTrainingJob', 'DescribeTrainingJob', 'StopTrainingJob', 'ListTrainingJobs', 'CreateModel', 'DescribeModel', 'DeleteModel',
      'CreateEndpointConfig', 'DescribeEndpointConfig', 'DeleteEndpointConfig', 'CreateEndpoint', 'UpdateEndpoint', 'DescribeEndpoint',
      'DeleteEndpoint', 'ListEndpoints', 'CreateModelPackageGroup', 'DescribeModelPackageGroup', 'CreateModelPackage', 'DescribeModelPackage',
      'ListModelPackages', 'UpdateModelPackage', 'ListTags', 'ListModels', 'ListEndpointConfigs',
    ],
  },
  'sagemaker-runtime': { path: 'sagemaker-runtime/2017-05-13/service-2.json', operations: ['InvokeEndpoint'] },
  sns: { path: 'sns/2010-03-31/service-2.json', operations: ['Publish'] },
} as const;

type Shape = { type: string; members?: Record<string, { shape: string }>; member?: { shape: string }; key?: { shape: string }; value?: { shape: string }; [k: string]: unknown };

function main(deb: string, root: string): void {
  const debSha = createHash('sha256').update(readFileSync(deb)).digest('hex');
  if (debSha !== PACKAGE.sha256) throw new Error(`${deb}: sha256 ${debSha}, expected ${PACKAGE.sha256} (awscli ${PACKAGE.version})`);
  const out = join(__dirname, '..', 'local', 'services', 'api-models');
  mkdirSync(out, { recursive: true });
  for (const [service, spec] of Object.entries(MODELS)) {
    const file = join(root, DATA, spec.path);
    const text = readFileSync(file);
    const model = JSON.parse(text.toString('utf8')) as { metadata: unknown; operations: Record<string, { input?: { shape: string }; http?: unknown }>; shapes: Record<string, Shape> };
    const shapes: Record<string, Shape> = {};
    const visit = (name: string) => {
      if (shapes[name]) return;
      const s = model.shapes[name];
      if (!s) throw new Error(`${spec.path}: shape ${name} missing`);
      // Documentation is dropped: the subset keeps what validation needs.
      const { documentation: _d, ...rest } = s as Shape & { documentation?: unknown };
      const members = rest.members ? Object.fromEntries(Object.entries(rest.members).map(([k, m]) => { const { documentation: _md, ...mm } = m as { documentation?: unknown; shape: string }; return [k, mm]; })) : undefined;
      shapes[name] = { ...rest, ...(members ? { members } : {}) } as Shape;
      for (const m of Object.values(rest.members ?? {})) visit(m.shape);
      for (const ref of [rest.member, rest.key, rest.value]) if (ref) visit(ref.shape);
    };
    const operations: Record<string, unknown> = {};
    for (const op of spec.operations) {
      const o = model.operations[op];
      if (!o) throw new Error(`${spec.path}: operation ${op} missing`);
      operations[op] = { input: o.input, http: o.http };
      if (o.input) visit(o.input.shape);
    }
    const subset = {
      provenance: {
        package: `${PACKAGE.name} ${PACKAGE.version}`,
        distribution: PACKAGE.distribution,
        packageSha256: PACKAGE.sha256,
        path: `/${DATA}/${spec.path}`,
        sha256: createHash('sha256').update(text).digest('hex'),
        generator: 'scripts/extract-api-models.ts',
        note: 'Input shapes of the operations listed, documentation removed; everything else as botocore ships it.',
      },
      metadata: model.metadata,
      operations,
      shapes,
    };
    writeFileSync(join(out, `${service}.json`), JSON.stringify(subset, null, 1) + '\n');
    console.log(`${service}: ${Object.keys(operations).length} operations, ${Object.keys(shapes).length} shapes`);
  }
}

if (require.main === module) {
  const [deb, root] = process.argv.slice(2);
  if (!deb || !root) {
    console.error('usage: npx tsx scripts/extract-api-models.ts <awscli_2.9.19-1_all.deb> <directory it was extracted to>');
    process.exit(2);
  }
  main(deb, root);
}
