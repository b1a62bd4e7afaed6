import { main } from '../local/cli';
import { E2eProject, firstVisits, RunJson } from './helpers/e2e';

/**
 * Issue 3's "retries behave as in the cloud", through local mode: the real synthesized state machine, the
 * bundled handlers and their SDK clients, against a local SageMaker server that throttles.
 *
 * `--fault-throttle 6` throttles the next 6 SageMaker control-plane calls (ThrottlingException, "Rate
 * exceeded", as SageMaker answers). Ingest and validation make none, so StartTraining's CreateTrainingJob is
 * the first: the SDK client (lambdas/shared/clients.ts, maxAttempts 5) retries it itself and gives up after
 * its 5th throttle; stageHandler maps the ThrottlingException to TransientError; the task's Retry on
 * TransientError runs StartTraining again; its first call takes the 6th throttle, which the SDK absorbs, and
 * the job is created. The execution succeeds, with one retry of StartTraining and no other.
 */

jest.setTimeout(600000);

const THROTTLES = 6; // one more than the SDK clients' maxAttempts: the handler fails once, its retry gets through

const project = new E2eProject('relearn-e2e-retry-');
afterAll(() => project.cleanup());

describe('retries through relearn local run', () => {
  test('GIVEN SageMaker throttles more calls than the SDK retries WHEN the pipeline runs THEN StartTraining is retried on TransientError and the execution succeeds', async () => {
    // WHEN
    const { code, json, log } = await project.run({ extra: ['--fresh', '--fault-throttle', String(THROTTLES)] });

    // THEN the execution succeeds through the whole happy path, nothing failed for good
    expect({ status: json.status, error: json.error }).toEqual({ status: 'SUCCEEDED', error: undefined });
    expect(code).toBe(0);
    expect(firstVisits(json)).toEqual(expect.arrayContaining(['StartTraining', 'CheckTraining', 'Deploy', 'VerifyServing', 'Done']));
    expect(json.decision).toMatchObject({ deploy: true, promoted: true });

    // AND StartTraining was entered once and retried (the state's Retry, not the SDK's own retries) ...
    const start: RunJson['states'] = json.states.filter((s) => s.name === 'StartTraining');
    expect(start).toHaveLength(1);
    expect(start[0].retries).toBeGreaterThanOrEqual(1);
    // ... and no other state was: the 6 throttles were all used up there
    expect(json.states.filter((s) => s.name !== 'StartTraining' && s.retries > 0)).toEqual([]);

    // AND the progress shows the failed attempt (the SDK's ThrottlingException, mapped to TransientError) and the retry
    expect(log).toMatch(/✗ StartTraining +TransientError: StartTraining: ThrottlingException: Rate exceeded/);
    expect(log).toMatch(/↻ StartTraining retry 1 after TransientError/);

    // AND the retried attempt created the job once: one training job, for this execution
    const jobs = await project.inspect((look) => look.trainingJobs());
    expect(jobs).toHaveLength(1);
  });

  test('a --fault-throttle that is not a whole number of calls is refused before anything starts', async () => {
    for (const bad of ['many', '-1', '2.5', '']) {
      let err = '';
      const code = await main(['local', 'run', '--fault-throttle', bad], { cwd: project.dir, stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) } });
      expect({ bad, code, err }).toEqual({ bad, code: 2, err: `relearn: --fault-throttle must be a whole number of calls >= 0, but got ${bad}\n` });
    }
  });
});
