import * as fs from 'node:fs';
import * as path from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import { DEPS_LOCK_FILE, INSTALL_ROOT, PACKAGE_ROOT } from '../package-root';

/**
 * Every Lambda function of relearn is made here, from its handler folder `lambdas/<name>/handler.ts`, in one of two
 * ways that give the same function:
 *
 * - **prebuilt** (relearn installed as a package): the bundle `npm run build` made of that handler with esbuild
 *   (scripts/bundle-lambdas.ts, with STAGE_BUNDLING) is deployed as it is (`dist/lambda-bundles/<name>/index.js`,
 *   `Code.fromAsset`). A consumer's synth runs no esbuild, needs no bundler or Docker, and deploys the bytes relearn's
 *   own tests ran.
 * - **source** (relearn's repository, running its TypeScript through tsx or ts-jest): NodejsFunction bundles the
 *   handler at synth with the same options, so an edit to a handler is in the next synth without a build step.
 *
 * Which one is decided by how relearn itself is loaded (compiled JavaScript, or TypeScript sources), and can be forced
 * with the context key `relearn:lambdaCode` (`prebuilt` | `source`): bench/package.ts measures a synth both ways.
 * docs/packaging.md says why relearn ships its handlers pre-bundled.
 */

/** Where `npm run build` puts one bundle per handler: `<dir>/<name>/index.js`. */
export const LAMBDA_BUNDLES_DIR = path.join(PACKAGE_ROOT, 'dist', 'lambda-bundles');

/** The context key that forces how Lambda code is found. */
export const LAMBDA_CODE_CONTEXT = 'relearn:lambdaCode';

export type LambdaCodeSource = 'prebuilt' | 'source';

/** How relearn is loaded here: compiled (dist/, a package install) or as TypeScript sources (the repository). */
export const DEFAULT_LAMBDA_CODE: LambdaCodeSource = __filename.endsWith('.ts') ? 'source' : 'prebuilt';

/** Every function's runtime: the esbuild target below and the local mode tests use Node.js 22. */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_22_X;

/**
 * Credential sources of the SDK's default chain that come after the environment variables. Lambda (and local
 * mode) always supply credentials through the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN are set by Lambda, and no stage sets AWS_PROFILE), so the chain stops there and these
 * modules are never loaded; the SDK imports each of them lazily (`import()` in credential-provider-node's
 * defaultProvider and remoteProvider), so a bundle loads without them. Leaving them out saves ~88 KB per
 * bundle (STS/SSO/sign-in clients, the ECS/EC2 metadata clients). Every client a handler calls is still
 * bundled at its pinned version. test/template.test.ts checks both halves on a bundle built with these options.
 */
export const SDK_CREDENTIAL_FALLBACKS = [
  '@aws-sdk/credential-provider-http',
  '@aws-sdk/credential-provider-ini',
  '@aws-sdk/credential-provider-login',
  '@aws-sdk/credential-provider-process',
  '@aws-sdk/credential-provider-sso',
  '@aws-sdk/credential-provider-web-identity',
  '@aws-sdk/nested-clients',
  '@aws-sdk/token-providers',
  // ECS container and EC2 instance metadata credentials: remoteProvider, the chain's last resort.
  '@smithy/credential-provider-imds',
] as const;

/** How every handler is bundled (esbuild, locally), at synth or by `npm run build`: one set of options for both. */
export const STAGE_BUNDLING = {
  // Always esbuild on this machine, never Docker.
  forceDockerBundling: false,
  minify: true,
  sourceMap: false,
  target: 'node22',
  // The SDK's ES module build tree-shakes; its CommonJS build doubles the bundle (FIELD-NOTES).
  mainFields: ['module', 'main'],
  // Bundle the pinned SDK clients instead of the runtime's own copy; only the credential sources a
  // Lambda never reaches are left out (see SDK_CREDENTIAL_FALLBACKS).
  externalModules: [...SDK_CREDENTIAL_FALLBACKS],
  // esbuild says only what is wrong, not a size summary per bundle on every synth.
  logLevel: nodejs.LogLevel.WARNING,
} as const satisfies nodejs.BundlingOptions;

export interface RelearnFunctionProps extends lambda.FunctionOptions {
  /** The handler's folder under lambdas/ (`ingest`, `cleanup-aborted`, ...); its module is `handler.ts`, exporting `handler`. */
  readonly handlerName: string;
  /** The handler module's export to run (one bundle may serve several functions). @default 'handler' */
  readonly exportName?: string;
}

/** How Lambda code is found in `scope`: the context key, else how relearn is loaded. */
export function lambdaCodeSource(scope: Construct): LambdaCodeSource {
  const forced = scope.node.tryGetContext(LAMBDA_CODE_CONTEXT) as unknown;
  if (forced === undefined) return DEFAULT_LAMBDA_CODE;
  if (forced !== 'prebuilt' && forced !== 'source') {
    throw new Error(`context ${LAMBDA_CODE_CONTEXT} must be 'prebuilt' or 'source', but got ${JSON.stringify(forced)}`);
  }
  return forced;
}

/** A relearn Lambda function (Node.js 22, the handler's bundle): see this module's comment for how its code is found. */
export function relearnFunction(scope: Construct, id: string, props: RelearnFunctionProps): lambda.Function {
  const { handlerName, exportName = 'handler', ...options } = props;
  if (lambdaCodeSource(scope) === 'prebuilt') {
    const dir = path.join(LAMBDA_BUNDLES_DIR, handlerName);
    if (!fs.existsSync(path.join(dir, 'index.js'))) {
      throw new Error(
        `relearn's Lambda bundle for ${handlerName} is missing: expected ${path.join(dir, 'index.js')} (built by \`npm run build\`), but it does not exist`,
      );
    }
    return new lambda.Function(scope, id, { ...options, runtime: LAMBDA_RUNTIME, handler: `index.${exportName}`, code: lambda.Code.fromAsset(dir) });
  }
  const entry = path.join(PACKAGE_ROOT, 'lambdas', handlerName, 'handler.ts');
  if (!fs.existsSync(entry)) {
    throw new Error(`relearn's Lambda handler ${handlerName} has no source here: expected ${entry} (context ${LAMBDA_CODE_CONTEXT}=source needs relearn's repository)`);
  }
  return new nodejs.NodejsFunction(scope, id, {
    ...options,
    runtime: LAMBDA_RUNTIME,
    entry,
    handler: exportName,
    projectRoot: INSTALL_ROOT,
    depsLockFilePath: DEPS_LOCK_FILE,
    bundling: STAGE_BUNDLING,
  });
}
