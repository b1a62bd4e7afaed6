import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { relative } from 'node:path';
import { parseCause } from './lambda-host';
import type { SageMakerEvent } from './local-env';
import type { LocalRunReport } from './local-run';
import { configArgFor, shellQuote } from './project';
import type { RunEvent } from './runner';

/**
 * What the person watching `relearn local run` sees: the steps before the execution, each state as it starts
 * and ends, a progress line while training runs (on a terminal), then the outcome, the decision, the report
 * and how to call the endpoint.
 */

const fmt = (ms: number | undefined) => (ms === undefined ? '' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

/** What the person watching sees: states as they start and end, a progress line while training runs. */
export class Printer {
  private readonly seen = new Map<string, number>();
  private progress = '';
  private lastStateName = '';
  private sampleBody?: string;

  constructor(
    private readonly out: { write(s: string): unknown; isTTY?: boolean },
    private readonly cwd: string,
  ) {}

  rel(path: string): string {
    const r = relative(this.cwd, path);
    return r && !r.startsWith('..') ? r : path;
  }

  private line(s: string): void {
    this.clearProgress();
    this.out.write(s + '\n');
  }

  clearProgress(): void {
    if (this.progress && this.out.isTTY) this.out.write('\r\x1b[K');
    this.progress = '';
  }

  private setProgress(s: string): void {
    if (!this.out.isTTY) return;
    const cols = (this.out as { columns?: number }).columns;
    const width = cols && cols > 20 ? cols - 1 : 100;
    this.progress = s.length > width ? s.slice(0, width - 1) + '…' : s;
    this.out.write('\r\x1b[K' + this.progress);
  }

  step(name: string, ms: number, detail: string): void {
    this.line(`  ${name.padEnd(10)} ${fmt(ms).padStart(8)}  ${detail.replace(this.cwd + '/', '')}`);
  }

  event(e: RunEvent): void {
    if (e.type === 'ExecutionStarted') {
      this.line(`\nexecution ${e.executionName}`);
      return;
    }
    if (e.type === 'ExecutionEnded') return;
    const v = e.visit;
    if (v.mapIndex !== undefined) {
      // Map iterations: only their failures are worth a line.
      if (e.type === 'StateFailed') this.line(`    ✗ ${v.name} [${v.mapIndex}]  ${e.error}: ${parseCause(e.cause).errorMessage}`);
      return;
    }
    const visits = this.seen.get(v.name) ?? 0;
    switch (e.type) {
      case 'StateEntered':
        this.seen.set(v.name, visits + 1);
        this.lastStateName = v.name;
        if (visits === 0) this.line(`  → ${v.name}`);
        else this.setProgress(`  … ${v.name} (visit ${visits + 1})${this.trainingNote}`);
        return;
      case 'StateExited':
        if (v.status === 'caught') return; // its failure line is printed already
        if (visits <= 1 || v.status !== 'succeeded') {
          const retries = v.retries ? `  (${v.retries} ${v.retries === 1 ? 'retry' : 'retries'})` : '';
          const mark = v.status === 'failed' ? '✗' : '✓';
          this.line(`  ${mark} ${v.name.padEnd(20)} ${fmt(v.durationMs).padStart(8)}${retries}`);
        }
        return;
      case 'StateRetried':
        this.line(`  ↻ ${v.name} retry ${e.attempt} after ${v.error?.Error ?? 'an error'}`);
        return;
      case 'StateFailed':
        if (v.type === 'Fail') return; // the outcome line says it
        this.line(`  ✗ ${v.name}  ${e.error}: ${parseCause(e.cause).errorMessage.split('\n')[0]}`);
        return;
      case 'StateCaught':
        this.line(`    caught -> ${e.next}`);
        return;
    }
  }

  private trainingNote = '';

  sagemaker(e: SageMakerEvent): void {
    if (e.kind === 'training-log' && typeof e.line === 'string' && e.line.trim()) {
      this.trainingNote = ` · training: ${e.line.trim()}`;
      this.setProgress(`  … ${this.lastStateName}${this.trainingNote}`);
    } else if (e.kind === 'training-metric') {
      const text = `    metric ${String(e.name)} = ${String(e.value)}`;
      if (this.out.isTTY) this.trainingNote = ` · ${String(e.name)}=${String(e.value)}`;
      else this.line(text);
    } else if (e.kind === 'training-status' && e.failureReason) {
      this.line(`    training job ${String(e.job)} ${String(e.status)}: ${String(e.failureReason)}`);
    } else if (e.kind === 'notification') {
      this.line(`    notified (SNS): ${String(e.subject ?? String(e.message).split('\n')[0])}`);
    } else if (e.kind === 'endpoint-status' && e.failureReason) {
      this.line(`    endpoint ${String(e.endpoint)} ${String(e.status)}: ${String(e.failureReason)}`);
    }
  }

  /** Upload progress of big files: a progress line on a terminal, else a line at each quarter. */
  uploadProgress(p: { loaded: number; total: number }): void {
    if (p.total < 64 * 1024 * 1024) return;
    const pct = Math.floor((100 * p.loaded) / p.total);
    const text = `  upload     ${String(pct).padStart(3)}%  ${mb(p.loaded)} of ${mb(p.total)}`;
    if (this.out.isTTY) {
      if (p.loaded < p.total) this.setProgress(text);
      else this.clearProgress();
      return;
    }
    const quarter = Math.floor(pct / 25);
    if (quarter > this.uploadQuarter && p.loaded < p.total) {
      this.uploadQuarter = quarter;
      this.line(text);
    }
  }

  private uploadQuarter = 0;

  /**
   * The one-line command that calls the endpoint, with a row of the run's own data as the example, runnable as
   * printed from where the user is (with the --config that reaches this pipeline). Undefined when the endpoint
   * does not serve (a run that stopped before any model existed) or no example row could be read.
   */
  invokeHint(report: LocalRunReport): string | undefined {
    if (!report.endpointInService) return undefined;
    this.sampleBody ??= sampleRow(report) ?? '';
    if (!this.sampleBody) return undefined;
    return `npx relearn local invoke${report.pipeline ? configArgFor(report.pipeline, this.cwd) : ''} --body ${shellQuote(this.sampleBody)}`;
  }

  summary(report: LocalRunReport): void {
    this.clearProgress();
    const lines: string[] = [''];
    const folded = [...this.seen.entries()].filter(([, n]) => n > 1);
    if (folded.length) lines.push(`  (polled: ${folded.map(([n, c]) => `${n} ×${c}`).join(', ')})`);
    if (report.status === 'SUCCEEDED') {
      const promoted = report.decision?.promoted;
      lines.push(`Outcome: SUCCEEDED — ${promoted ? `promoted and serving on ${report.endpointName}` : 'not promoted (the serving model is unchanged)'}`);
    } else if (report.interrupted) {
      const where = report.interrupted.in.length ? ` during ${report.interrupted.in.join(', ')}` : '';
      lines.push(`Outcome: ABORTED — interrupted${where}; the execution was stopped and cleaned up:`);
      for (const c of report.interrupted.cleanup) lines.push(`  - ${c}`);
    } else {
      const failedAt = report.states.find((s) => s.error && s.mapIndex === undefined && s.type !== 'Fail');
      const cause = report.error ? parseCause(report.error.Cause).errorMessage : '';
      lines.push(`Outcome: ${report.status}${failedAt ? ` at ${failedAt.name}` : ''}${report.error ? ` — ${report.error.Error}: ${cause}` : ''}`);
    }
    if (report.decision) {
      lines.push(`Decision: ${report.decision.deploy ? 'deploy' : 'do not deploy'}`);
      for (const r of report.decision.reasons) lines.push(`  - ${r}`);
    }
    if (report.report) lines.push(`Report: ${report.report.path}`);
    const hint = this.invokeHint(report);
    if (report.endpointInService) {
      lines.push(`Endpoint: ${report.endpointName} (serving${report.champion ? ` the model of ${report.champion.executionName}` : ''})`);
      if (hint) lines.push(`  ${hint}`);
    } else if (report.champion) {
      lines.push(`Endpoint: ${report.endpointName} is not in service (the champion is ${report.champion.executionName}): the next run brings it back`);
    } else {
      lines.push(`Endpoint: ${report.endpointName} (nothing deployed yet)`);
    }
    const t = report.timings;
    lines.push(
      `Timings: synth ${fmt(t.synthMs)}${t.synthCached ? ' (reused)' : t.reusedBundles ? ` (${t.reusedBundles} bundles reused)` : ''} · services ${fmt(t.servicesMs)} · execution ${fmt(t.executionMs)}` +
        (t.trainingScriptMs !== undefined ? ` (training script ${fmt(t.trainingScriptMs)})` : ''),
    );
    this.out.write(lines.join('\n') + '\n');
  }
}

const mb = (bytes: number) => (bytes >= 1 << 30 ? `${(bytes / (1 << 30)).toFixed(1)} GB` : `${Math.round(bytes / (1 << 20))} MB`);

/** The first bytes of a file (a sample row needs no more; the file may be gigabytes). */
function head(file: string, bytes: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    return buf.subarray(0, readSync(fd, buf, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

/** First data row of the uploaded file, minus the label column, as a JSON object: an invoke example. */
function sampleRow(report: LocalRunReport): string | undefined {
  const file = report.dataFiles[0];
  if (!file || !existsSync(file) || /\.gz$/.test(file)) return undefined;
  let text = head(file, 64 * 1024).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  if (lines.length < 2) return undefined;
  try {
    if (lines[0].trim().startsWith('{')) {
      const row = JSON.parse(lines[0]) as Record<string, unknown>;
      delete row[report.labelColumn];
      return JSON.stringify(row);
    }
  } catch {
    return undefined;
  }
  const header = splitCsv(lines[0]);
  const values = splitCsv(lines[1]);
  if (values.length !== header.length) return undefined;
  const row: Record<string, unknown> = {};
  header.forEach((h, i) => {
    if (h === report.labelColumn) return;
    const v = values[i] ?? '';
    row[h] = v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  });
  return JSON.stringify(row);
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

