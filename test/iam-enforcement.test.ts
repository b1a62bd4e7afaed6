import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCause } from '../local/lambda-host';
import { LocalRunReport, pipelineDirOf, runLocal } from '../local/local-run';
import { removePolicyStatements } from '../local/iam/template';

/**
 * Local mode enforces the synthesized IAM policies: a clean run passes with every request checked, and a run
 * whose template lacks one statement fails at the stage that needs it, with AWS's AccessDenied naming the role,
 * the action and the resource. This is also the recipe for "fails with AccessDenied when the fix is reverted"
 * tests: synthesize, edit the assembly's template (removePolicyStatements / editAssemblyTemplate), run.
 */

jest.setTimeout(15 * 60 * 1000);

const PIPELINE_STACK = 'relearn-pipeline';

describe('IAM enforcement in local runs', () => {
  let project: string;
  // The config as a user writes it (runLocal parses it; the synthesized assembly is reused while it is unchanged).
  const config = { training: { pollIntervalSeconds: 1 }, deployment: { pollIntervalSeconds: 1 } };
  const outdir = () => join(pipelineDirOf(project, 'relearn'), 'cdk.out');
  const pristine = () => join(project, 'pristine-cdk.out');

  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), 'relearn-iam-e2e-'));
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  /** A fresh run; with `edit`, on the clean run's assembly with its template changed by `edit`. */
  async function run(edit?: (outdir: string) => void): Promise<LocalRunReport> {
    if (edit) {
      rmSync(outdir(), { recursive: true, force: true });
      cpSync(pristine(), outdir(), { recursive: true });
      edit(outdir());
    }
    const r = await runLocal({ projectDir: project, config, fresh: true, logLevel: 'SILENT' });
    if (edit) expect(r.timings.synthCached).toBe(true); // the edited template is what ran
    return r;
  }

  const failureOf = (r: LocalRunReport) => {
    const failed = r.states.find((s) => s.status === 'caught' || s.status === 'failed');
    return { state: failed?.name, ...parseCause(failed?.error?.Cause) };
  };

  it('a clean run succeeds with every request authorized as its role and every SageMaker request valid', async () => {
    const r = await run();
    cpSync(outdir(), pristine(), { recursive: true });
    expect(r.status).toBe('SUCCEEDED');
    const e = r.enforcement!;
    expect(e.enforced).toBe(true);
    expect(e.iam.denied).toBe(0);
    expect(e.iam.byService.s3.allowed).toBeGreaterThan(20);
    expect(e.iam.byService.sagemaker.allowed).toBeGreaterThan(5);
    expect(e.iam.byService.kms.allowed).toBeGreaterThan(5);
    expect(e.iam.byService.iam.allowed).toBeGreaterThanOrEqual(2); // PassRole: CreateTrainingJob, CreateModel
    expect(e.iam.byService.sns.allowed).toBeGreaterThanOrEqual(1);
    expect(e.apiModel.rejected).toBe(0);
    expect(e.apiModel.byOperation['sagemaker.CreateTrainingJob']).toBe(1);
    expect(e.apiModel.byOperation['sagemaker-runtime.InvokeEndpoint']).toBeGreaterThanOrEqual(1);
  });

  it('ValidateData without s3:PutObject on runs/*/validation/*: the run fails there with the named AccessDenied', async () => {
    const r = await run((outdir) =>
      removePolicyStatements(outdir, PIPELINE_STACK, 'PipelineValidateDataRole', (s) => ([] as unknown[]).concat(s.Action).includes('s3:PutObject')),
    );
    expect(r.status).toBe('FAILED');
    const f = failureOf(r);
    expect(f.state).toBe('ValidateData');
    expect(f.errorMessage).toMatch(
      new RegExp(
        '^.*User: arn:aws:sts::000000000000:assumed-role/relearn-pipeline-PipelineValidateDataRole[A-Z0-9]+/relearn-pipeline-PipelineValidateData[A-Za-z0-9]+ ' +
          'is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::relearn-data-artifactsbucket[a-z0-9]+/runs/' + r.executionName + '/validation/[^"]+" ' +
          'because no identity-based policy allows the s3:PutObject action',
      ),
    );
  });

  it('StartTraining without iam:PassRole: SageMaker refuses CreateTrainingJob with AccessDeniedException naming the role to pass', async () => {
    const r = await run((outdir) => removePolicyStatements(outdir, PIPELINE_STACK, 'PipelineStartTrainingRole', (s) => ([] as unknown[]).concat(s.Action).includes('iam:PassRole')));
    expect(r.status).toBe('FAILED');
    const f = failureOf(r);
    expect(f.state).toBe('StartTraining');
    expect(f.errorMessage).toMatch(/AccessDeniedException/);
    expect(f.errorMessage).toMatch(
      /User: arn:aws:sts::000000000000:assumed-role\/relearn-pipeline-PipelineStartTrainingRole[A-Z0-9]+\/\S+ is not authorized to perform: iam:PassRole on resource: arn:aws:iam::000000000000:role\/relearn-pipeline-PipelineSageMakerRole[A-Z0-9]+ because no identity-based policy allows the iam:PassRole action/,
    );
  });
});
