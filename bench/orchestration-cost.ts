/**
 * What relearn's orchestration (Step Functions state transitions + Lambda) costs per retrain at the pinned list
 * prices (lambdas/shared/cost.ts), for the figures: transitions and Lambda GB-seconds of one successful run
 * on the bundled example, per hour of training wait, and for a 10-minute and a 4-hour training job with the default
 * polling (lambdas/shared/polling.ts's backoff), against the same jobs polled every minute (the baseline it replaced).
 *
 *   NODE_OPTIONS=--openssl-legacy-provider npx tsx bench/orchestration-cost.ts
 *
 * One real local run gives the states it entered and each handler's time; Lambda time measured locally stands in
 * for Lambda's billed duration (same code; a cloud invocation adds network latency to the SDK calls). The run's own
 * training polls are taken out and the polls of the longer jobs put in, computed with the schedule the state machine
 * uses. Figures also go to bench/out/orchestration-cost.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../lambdas/shared/config';
import { gbSeconds, PRICES, runCost, usd } from '../lambdas/shared/cost';
import { pollsFor, TRANSITIONS_PER_POLL, trainingPollSchedule } from '../lambdas/shared/polling';
import { resolvePipeline } from '../local/asl/assembly';
import { runLocal } from '../local/local-run';
import { findPython } from '../local/services/sagemaker';

async function main(): Promise<void> {
  const project = mkdtempSync(join(tmpdir(), 'relearn-bench-cost-'));
  try {
    const report = await runLocal({ projectDir: project, fresh: true, python: findPython(), logLevel: 'SILENT' });
    if (report.status !== 'SUCCEEDED') throw new Error(`the run ${report.status}: ${JSON.stringify(report.error)}`);
    const pipeline = resolvePipeline(join(report.stateDir, 'cdk.out'));
    const memoryOf = (state: string) => pipeline.functions[pipeline.tasks[state]]?.memoryMb ?? 128;

    // The run: every state entered (Map iterations included) and every retry is a transition.
    const transitions = report.states.length + report.states.reduce((n, s) => n + s.retries, 0);
    const lambda = Object.entries(report.timings.handlerMs).map(([state, ms]) => ({ state, memoryMb: memoryOf(state), durationMs: ms }));
    const invocations = report.states.filter((s) => pipeline.tasks[s.name]).length + report.states.reduce((n, s) => n + (pipeline.tasks[s.name] ? s.retries : 0), 0);
    const checks = report.states.filter((s) => s.name === 'CheckTraining').length;
    const checkMs = (report.timings.handlerMs.CheckTraining ?? 0) / Math.max(1, checks);
    const checkMemory = memoryOf('CheckTraining');

    // Without the run's own training polls: the run minus `checks` rounds.
    const baseTransitions = transitions - checks * TRANSITIONS_PER_POLL;
    const baseGbs = lambda.reduce((n, l) => n + gbSeconds(l.memoryMb, l.durationMs), 0) - checks * gbSeconds(checkMemory, checkMs);
    const baseRequests = invocations - checks;
    const perPoll = { transitions: TRANSITIONS_PER_POLL, gbSeconds: gbSeconds(checkMemory, checkMs) };
    const schedule = trainingPollSchedule(parseConfig({}));
    const minutely = { firstSeconds: 60, maxSeconds: 60 };

    const cost = (polls: number) =>
      runCost({
        stateTransitions: baseTransitions + polls * perPoll.transitions,
        // the base run's Lambda time as one entry per invocation on average, plus each poll's CheckTraining
        lambda: [
          ...Array.from({ length: baseRequests }, () => ({ memoryMb: 1024, durationMs: (baseGbs / baseRequests) * 1000 })),
          ...Array.from({ length: polls }, () => ({ memoryMb: checkMemory, durationMs: checkMs })),
        ],
      });
    const rows = [600, 3600, 4 * 3600].map((seconds) => {
      const polls = pollsFor(seconds, schedule);
      const every = pollsFor(seconds, minutely);
      return { seconds, polls, cost: cost(polls), minutelyPolls: every, minutelyCost: cost(every) };
    });

    const lines = [
      `prices: ${PRICES.region}, as of ${PRICES.asOf} (Step Functions $${(PRICES.stepFunctionsPerTransition * 1000).toFixed(3)}/1,000 transitions, Lambda Arm $${PRICES.lambdaPerGbSecond}/GB-s)`,
      `one successful run on the bundled example (local training: ${checks} poll(s)): ${transitions} state transitions, ${lambda.reduce((n, l) => n + gbSeconds(l.memoryMb, l.durationMs), 0).toFixed(2)} Lambda GB-s, ${invocations} invocations`,
      `  without its training polls: ${baseTransitions} transitions, ${baseGbs.toFixed(2)} GB-s, ${usd(cost(0).orchestrationUsd)}`,
      `per training poll: ${perPoll.transitions} transitions + ${perPoll.gbSeconds.toFixed(4)} GB-s (CheckTraining ${checkMemory} MB x ${checkMs.toFixed(0)} ms) = ${usd(runCost({ stateTransitions: 3, lambda: [{ memoryMb: checkMemory, durationMs: checkMs }] }).orchestrationUsd)}`,
      `default schedule: first wait ${schedule.firstSeconds} s, then 10% of the elapsed time, at most ${schedule.maxSeconds} s`,
      '',
      'training job | polls (backoff) | transitions | GB-s  | orchestration | polls every 60 s | orchestration (60 s) | ratio',
      ...rows.map((r) => {
        const first = r.seconds === 3600 ? '1 h (per hour of wait)' : r.seconds === 600 ? '10 min' : '4 h';
        return `${first.padEnd(12)} | ${String(r.polls).padStart(15)} | ${String(r.cost.stateTransitions).padStart(11)} | ${r.cost.lambdaGbSeconds.toFixed(2).padStart(5)} | ${usd(r.cost.orchestrationUsd).padStart(13)} | ${String(r.minutelyPolls).padStart(16)} | ${usd(r.minutelyCost.orchestrationUsd).padStart(20)} | ${(r.minutelyCost.orchestrationUsd / r.cost.orchestrationUsd).toFixed(2)}x`;
      }),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    mkdirSync(join(__dirname, 'out'), { recursive: true });
    writeFileSync(join(__dirname, 'out', 'orchestration-cost.json'), JSON.stringify({ prices: PRICES, transitions, invocations, checks, checkMs, baseTransitions, baseGbs, rows }, null, 2));
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
