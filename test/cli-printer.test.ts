import { Printer } from '../local/cli';
import { LocalRunReport } from '../local/local-run';
import { RunEvent, StateVisit } from '../local/runner';

/** What the person watching sees, from the runner's events (no terminal: no progress line, plain lines). */

function printer() {
  let text = '';
  const p = new Printer({ write: (s: string) => (text += s) }, '/project');
  return { p, text: () => text };
}

const visit = (name: string, extra: Partial<StateVisit> = {}): StateVisit => ({ name, type: 'Task', enteredAt: 0, retries: 0, status: 'running', ...extra });

describe('Printer', () => {
  test('each state prints when it starts and ends, with its duration and retries; polling repeats fold', () => {
    const { p, text } = printer();
    const events: RunEvent[] = [
      { type: 'ExecutionStarted', executionName: 'local-x', at: 0 },
      { type: 'StateEntered', visit: visit('StartTraining'), at: 0 },
      { type: 'StateRetried', visit: visit('StartTraining', { retries: 1, error: { Error: 'TransientError' } }), attempt: 1, at: 0 },
      { type: 'StateExited', visit: visit('StartTraining', { status: 'succeeded', durationMs: 2500, retries: 1 }), at: 0 },
      { type: 'StateEntered', visit: visit('CheckTraining'), at: 0 },
      { type: 'StateExited', visit: visit('CheckTraining', { status: 'succeeded', durationMs: 120 }), at: 0 },
      { type: 'StateEntered', visit: visit('CheckTraining'), at: 0 },
      { type: 'StateExited', visit: visit('CheckTraining', { status: 'succeeded', durationMs: 130 }), at: 0 },
      { type: 'StateEntered', visit: visit('ShardStatistics', { mapIndex: 0 }), at: 0 },
    ];
    events.forEach((e) => p.event(e));
    expect(text()).toContain('execution local-x');
    expect(text()).toMatch(/→ StartTraining\n/);
    expect(text()).toMatch(/↻ StartTraining retry 1 after TransientError/);
    expect(text()).toMatch(/✓ StartTraining +2\.5 s {2}\(1 retry\)/);
    expect(text()).toMatch(/✓ CheckTraining +120 ms\n/);
    expect(text()).not.toContain('130 ms'); // the second poll is folded
    expect(text()).not.toContain('ShardStatistics'); // Map iterations print only their failures
  });

  test('a failure prints its name and Lambda’s message, then where the Catch went; the summary names the failed state', () => {
    const { p, text } = printer();
    const cause = JSON.stringify({ errorType: 'TrainingFailed', errorMessage: 'AlgorithmError: boom', trace: [] });
    const failed = visit('CheckTraining', { status: 'caught', error: { Error: 'TrainingFailed', Cause: cause } });
    p.event({ type: 'StateEntered', visit: visit('CheckTraining'), at: 0 });
    p.event({ type: 'StateFailed', visit: failed, error: 'TrainingFailed', cause, at: 0 });
    p.event({ type: 'StateCaught', visit: failed, next: 'NotifyFailure', at: 0 });
    p.event({ type: 'StateExited', visit: failed, at: 0 });
    expect(text()).toMatch(/✗ CheckTraining {2}TrainingFailed: AlgorithmError: boom\n {4}caught -> NotifyFailure\n$/);

    const report = {
      executionName: 'local-x',
      status: 'FAILED',
      error: { Error: 'TrainingFailed', Cause: cause },
      states: [failed, { ...visit('Failed', { type: 'Fail', status: 'failed', error: { Error: 'TrainingFailed' } }) }],
      endpointName: 'relearn-endpoint',
      endpointInService: false,
      pipeline: { name: 'relearn', projectDir: '/project' },
      source: { bucket: 'b', prefix: 'incoming/x/', keys: [] },
      dataFiles: [],
      labelColumn: 'churned',
      timings: { synthMs: 10, synthCached: true, servicesMs: 5, provisionMs: 1, uploadMs: 1, executionMs: 1000, handlerMs: {} },
      stateDir: '/project/.relearn',
    } as LocalRunReport;
    p.summary(report);
    expect(text()).toContain('Outcome: FAILED at CheckTraining — TrainingFailed: AlgorithmError: boom');
    expect(text()).toContain('Endpoint: relearn-endpoint (nothing deployed yet)');
  });
});
