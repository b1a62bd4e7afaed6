import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ApiError } from './sagemaker/api-error';

/**
 * A local CloudWatch (metrics and alarms), the subset relearn uses, on the AWS JSON 1.0 protocol the SDK's
 * CloudWatch client speaks (`x-amz-target: GraniteServiceVersion20100801.<Operation>`): PutMetricData,
 * GetMetricData, PutMetricAlarm, DescribeAlarms, DeleteAlarms. The local SageMaker runtime puts its endpoints'
 * invocation metrics here (AWS/SageMaker Invocations, Invocation4XXErrors, Invocation5XXErrors), the monitor its own.
 *
 * Alarms are evaluated as CloudWatch evaluates a single-metric alarm: the statistic of each of the last
 * EvaluationPeriods periods (aligned to the period, the current one included), DatapointsToAlarm of them breaching
 * -> ALARM, else OK; periods without data follow TreatMissingData (`ignore` and `missing` keep the state when every
 * period is empty). Evaluated on each PutMetricData and DescribeAlarms; a change of state publishes CloudWatch's
 * alarm message to the alarm's actions (SNS topics) through `publish`. State lives in `<directory>/cloudwatch/`
 * (datapoints.jsonl, alarms.json), so a later process sees the metrics of an earlier one.
 */

export const CLOUDWATCH_TARGET_PREFIX = 'GraniteServiceVersion20100801.';

type Dim = { Name: string; Value: string };

interface Datapoint {
  readonly ns: string;
  readonly name: string;
  /** Canonical dimensions: `Name=Value` sorted, joined with `|`. */
  readonly dims: string;
  /** Epoch ms. */
  readonly t: number;
  readonly sum: number;
  readonly count: number;
  readonly min: number;
  readonly max: number;
}

export interface LocalAlarm {
  AlarmName: string;
  AlarmArn: string;
  AlarmDescription?: string;
  Namespace: string;
  MetricName: string;
  Dimensions: Dim[];
  Statistic: string;
  Period: number;
  EvaluationPeriods: number;
  DatapointsToAlarm?: number;
  Threshold: number;
  ComparisonOperator: string;
  TreatMissingData: string;
  ActionsEnabled: boolean;
  AlarmActions: string[];
  OKActions: string[];
  InsufficientDataActions: string[];
  StateValue: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
  StateReason: string;
  /** Epoch seconds. */
  StateUpdatedTimestamp: number;
}

export interface LocalCloudWatchOptions {
  readonly directory: string;
  readonly region: string;
  readonly account: string;
  /** Delivers an alarm action (an SNS topic ARN) with CloudWatch's subject and JSON message. */
  readonly publish: (topicArn: string, subject: string, message: string) => void;
  /** @default Date.now */
  readonly now?: () => number;
}

const canonical = (dims: readonly Dim[] | undefined): string =>
  [...(dims ?? [])].map((d) => `${d.Name}=${d.Value}`).sort().join('|');

const COMPARE: Record<string, (v: number, t: number) => boolean> = {
  GreaterThanOrEqualToThreshold: (v, t) => v >= t,
  GreaterThanThreshold: (v, t) => v > t,
  LessThanThreshold: (v, t) => v < t,
  LessThanOrEqualToThreshold: (v, t) => v <= t,
};

function statistic(points: readonly Datapoint[], stat: string): number | undefined {
  if (!points.length) return undefined;
  const sum = points.reduce((s, p) => s + p.sum, 0);
  const count = points.reduce((s, p) => s + p.count, 0);
  switch (stat) {
    case 'Sum':
      return sum;
    case 'SampleCount':
      return count;
    case 'Average':
      return count ? sum / count : undefined;
    case 'Minimum':
      return Math.min(...points.map((p) => p.min));
    case 'Maximum':
      return Math.max(...points.map((p) => p.max));
    default:
      throw new ApiError('InvalidParameterValue', `The local CloudWatch supports the statistics Sum, SampleCount, Average, Minimum and Maximum, not "${stat}"`);
  }
}

/** Epoch ms from the protocol's timestamps (epoch seconds) or an ISO string. */
const epochMs = (v: unknown, fallback: number): number => (typeof v === 'number' ? v * 1000 : typeof v === 'string' ? Date.parse(v) : fallback);

export class LocalCloudWatch {
  private readonly dir: string;
  private readonly points: Datapoint[] = [];
  private readonly alarms = new Map<string, LocalAlarm>();
  private readonly now: () => number;

  constructor(private readonly opts: LocalCloudWatchOptions) {
    this.dir = join(opts.directory, 'cloudwatch');
    mkdirSync(this.dir, { recursive: true });
    this.now = opts.now ?? Date.now;
    const pointsFile = join(this.dir, 'datapoints.jsonl');
    if (existsSync(pointsFile)) {
      for (const line of readFileSync(pointsFile, 'utf8').split('\n')) if (line.trim()) this.points.push(JSON.parse(line) as Datapoint);
    }
    const alarmsFile = join(this.dir, 'alarms.json');
    if (existsSync(alarmsFile)) for (const a of JSON.parse(readFileSync(alarmsFile, 'utf8')) as LocalAlarm[]) this.alarms.set(a.AlarmName, a);
  }

  /** Answers one JSON 1.0 request; throws ApiError as CloudWatch would answer it. */
  call(operation: string, input: Record<string, unknown>): Record<string, unknown> {
    switch (operation) {
      case 'PutMetricData':
        return this.putMetricData(input);
      case 'GetMetricData':
        return this.getMetricData(input);
      case 'PutMetricAlarm':
        return this.putMetricAlarm(input);
      case 'DescribeAlarms':
        return this.describeAlarms(input);
      case 'DeleteAlarms':
        for (const n of (input.AlarmNames as string[] | undefined) ?? []) this.alarms.delete(n);
        this.saveAlarms();
        return {};
      default:
        throw new ApiError('UnknownOperationException', `The local CloudWatch implements PutMetricData, GetMetricData, PutMetricAlarm, DescribeAlarms and DeleteAlarms, not ${operation}`);
    }
  }

  /** Decodes a request body (the SDK gzips PutMetricData bodies of 10 KB and more). */
  static body(raw: Buffer, contentEncoding: string | undefined): Record<string, unknown> {
    const text = (contentEncoding ?? '').includes('gzip') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
    try {
      return text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      throw new ApiError('SerializationException', 'the request body is not valid JSON');
    }
  }

  /** One datapoint from inside the local services (the SageMaker runtime's invocation metrics). */
  record(namespace: string, name: string, dims: Dim[], value: number, at = this.now()): void {
    this.add({ ns: namespace, name, dims: canonical(dims), t: at, sum: value, count: 1, min: value, max: value });
    this.evaluate(namespace, name);
  }

  private add(p: Datapoint): void {
    this.points.push(p);
    appendFileSync(join(this.dir, 'datapoints.jsonl'), JSON.stringify(p) + '\n');
  }

  private putMetricData(input: Record<string, unknown>): Record<string, unknown> {
    const ns = input.Namespace;
    if (typeof ns !== 'string' || !ns || ns.startsWith('AWS/')) {
      throw new ApiError('InvalidParameterValue', `The value ${String(ns)} for parameter Namespace is invalid${typeof ns === 'string' && ns.startsWith('AWS/') ? ': the AWS/ prefix is reserved for AWS services' : ''}.`);
    }
    const data = input.MetricData as Record<string, unknown>[] | undefined;
    if (!Array.isArray(data) || data.length === 0 || data.length > 1000) throw new ApiError('InvalidParameterValue', 'MetricData must hold 1 to 1000 datums');
    const names = new Set<string>();
    for (const d of data) {
      const name = String(d.MetricName ?? '');
      if (!name) throw new ApiError('MissingParameter', 'The parameter MetricData.member.MetricName is required.');
      const dims = (d.Dimensions as Dim[] | undefined) ?? [];
      if (dims.length > 30) throw new ApiError('InvalidParameterValue', `metric ${name} has ${dims.length} dimensions; at most 30`);
      const t = epochMs(d.Timestamp, this.now());
      if (typeof d.Value === 'number') {
        if (!Number.isFinite(d.Value)) throw new ApiError('InvalidParameterValue', `The value ${d.Value} for parameter MetricData.member.Value is invalid.`);
        this.add({ ns, name, dims: canonical(dims), t, sum: d.Value, count: 1, min: d.Value, max: d.Value });
      } else if (d.StatisticValues) {
        const s = d.StatisticValues as { Sum: number; SampleCount: number; Minimum: number; Maximum: number };
        this.add({ ns, name, dims: canonical(dims), t, sum: s.Sum, count: s.SampleCount, min: s.Minimum, max: s.Maximum });
      } else if (Array.isArray(d.Values)) {
        const values = d.Values as number[];
        const counts = (d.Counts as number[] | undefined) ?? values.map(() => 1);
        values.forEach((v, i) => this.add({ ns, name, dims: canonical(dims), t, sum: v * counts[i], count: counts[i], min: v, max: v }));
      } else {
        throw new ApiError('InvalidParameterCombination', `metric ${name}: one of Value, Values or StatisticValues is required`);
      }
      names.add(name);
    }
    for (const name of names) this.evaluate(ns, name);
    return {};
  }

  private getMetricData(input: Record<string, unknown>): Record<string, unknown> {
    const start = epochMs(input.StartTime, NaN);
    const end = epochMs(input.EndTime, NaN);
    if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) throw new ApiError('ValidationError', 'StartTime and EndTime are required, and EndTime must be after StartTime');
    const results = ((input.MetricDataQueries as Record<string, unknown>[] | undefined) ?? []).map((q) => {
      const ms = q.MetricStat as { Metric: { Namespace: string; MetricName: string; Dimensions?: Dim[] }; Period: number; Stat: string } | undefined;
      if (!ms) throw new ApiError('ValidationError', `query ${String(q.Id)}: the local CloudWatch answers MetricStat queries only (no math expressions)`);
      const periodMs = ms.Period * 1000;
      const dims = canonical(ms.Metric.Dimensions);
      const buckets = new Map<number, Datapoint[]>();
      for (const p of this.points) {
        if (p.ns !== ms.Metric.Namespace || p.name !== ms.Metric.MetricName || p.dims !== dims || p.t < start || p.t >= end) continue;
        const b = start + Math.floor((p.t - start) / periodMs) * periodMs;
        (buckets.get(b) ?? buckets.set(b, []).get(b)!).push(p);
      }
      const stamps = [...buckets.keys()].sort((a, b) => b - a);
      return {
        Id: q.Id,
        Label: q.Label ?? ms.Metric.MetricName,
        Timestamps: stamps.map((t) => t / 1000),
        Values: stamps.map((t) => statistic(buckets.get(t)!, ms.Stat)!),
        StatusCode: 'Complete',
      };
    });
    return { MetricDataResults: results, Messages: [] };
  }

  private putMetricAlarm(input: Record<string, unknown>): Record<string, unknown> {
    const name = String(input.AlarmName ?? '');
    if (!name) throw new ApiError('MissingParameter', 'The parameter AlarmName is required.');
    if (!input.MetricName || !input.Namespace) throw new ApiError('ValidationError', `alarm ${name}: the local CloudWatch evaluates single-metric alarms only (MetricName and Namespace)`);
    if (!(String(input.ComparisonOperator) in COMPARE)) throw new ApiError('ValidationError', `alarm ${name}: ComparisonOperator ${String(input.ComparisonOperator)} is not supported locally`);
    const old = this.alarms.get(name);
    const alarm: LocalAlarm = {
      AlarmName: name,
      AlarmArn: `arn:aws:cloudwatch:${this.opts.region}:${this.opts.account}:alarm:${name}`,
      ...(input.AlarmDescription ? { AlarmDescription: String(input.AlarmDescription) } : {}),
      Namespace: String(input.Namespace),
      MetricName: String(input.MetricName),
      Dimensions: (input.Dimensions as Dim[] | undefined) ?? [],
      Statistic: String(input.Statistic ?? 'Average'),
      Period: Number(input.Period ?? 60),
      EvaluationPeriods: Number(input.EvaluationPeriods ?? 1),
      ...(input.DatapointsToAlarm !== undefined ? { DatapointsToAlarm: Number(input.DatapointsToAlarm) } : {}),
      Threshold: Number(input.Threshold),
      ComparisonOperator: String(input.ComparisonOperator),
      TreatMissingData: String(input.TreatMissingData ?? 'missing'),
      ActionsEnabled: input.ActionsEnabled !== false,
      AlarmActions: (input.AlarmActions as string[] | undefined) ?? [],
      OKActions: (input.OKActions as string[] | undefined) ?? [],
      InsufficientDataActions: (input.InsufficientDataActions as string[] | undefined) ?? [],
      StateValue: old?.StateValue ?? 'INSUFFICIENT_DATA',
      StateReason: old?.StateReason ?? 'Unchecked: Initial alarm creation',
      StateUpdatedTimestamp: old?.StateUpdatedTimestamp ?? this.now() / 1000,
    };
    this.alarms.set(name, alarm);
    this.saveAlarms();
    this.evaluateAlarm(alarm);
    return {};
  }

  private describeAlarms(input: Record<string, unknown>): Record<string, unknown> {
    const names = input.AlarmNames as string[] | undefined;
    const prefix = input.AlarmNamePrefix as string | undefined;
    const out: LocalAlarm[] = [];
    for (const a of this.alarms.values()) {
      if (names?.length && !names.includes(a.AlarmName)) continue;
      if (prefix && !a.AlarmName.startsWith(prefix)) continue;
      this.evaluateAlarm(a);
      if (input.StateValue && a.StateValue !== input.StateValue) continue;
      out.push(a);
    }
    return { MetricAlarms: out, CompositeAlarms: [] };
  }

  private evaluate(namespace: string, name: string): void {
    for (const a of this.alarms.values()) if (a.Namespace === namespace && a.MetricName === name) this.evaluateAlarm(a);
  }

  private evaluateAlarm(a: LocalAlarm): void {
    const now = this.now();
    const p = a.Period * 1000;
    const dims = canonical(a.Dimensions);
    const current = Math.floor(now / p) * p;
    const values: (number | undefined)[] = [];
    for (let i = 0; i < a.EvaluationPeriods; i++) {
      const from = current - i * p;
      values.push(statistic(this.points.filter((d) => d.ns === a.Namespace && d.name === a.MetricName && d.dims === dims && d.t >= from && d.t < from + p), a.Statistic));
    }
    const cmp = COMPARE[a.ComparisonOperator];
    const m = a.DatapointsToAlarm ?? a.EvaluationPeriods;
    const present = values.filter((v): v is number => v !== undefined);
    let breaching = present.filter((v) => cmp(v, a.Threshold)).length;
    if (present.length === 0 && (a.TreatMissingData === 'missing' || a.TreatMissingData === 'ignore')) {
      return; // no data in any period: the state stays
    }
    if (a.TreatMissingData === 'breaching') breaching += values.length - present.length;
    const next: LocalAlarm['StateValue'] = breaching >= m ? 'ALARM' : 'OK';
    if (next === a.StateValue) return;
    const old = a.StateValue;
    const shown = present.map((v) => Number(v.toPrecision(6)));
    a.StateValue = next;
    a.StateReason = `Threshold Crossed: ${present.length} datapoint${present.length === 1 ? '' : 's'} [${shown.join(', ')}] ${next === 'ALARM' ? 'was' : 'was not'} ${a.ComparisonOperator.replace(/([A-Z])/g, ' $1').trim().toLowerCase()} (${a.Threshold}).`;
    a.StateUpdatedTimestamp = now / 1000;
    this.saveAlarms();
    const actions = !a.ActionsEnabled ? [] : next === 'ALARM' ? a.AlarmActions : a.OKActions;
    const message = JSON.stringify({
      AlarmName: a.AlarmName,
      AlarmDescription: a.AlarmDescription ?? null,
      AWSAccountId: this.opts.account,
      NewStateValue: next,
      NewStateReason: a.StateReason,
      StateChangeTime: new Date(now).toISOString(),
      Region: this.opts.region,
      AlarmArn: a.AlarmArn,
      OldStateValue: old,
      Trigger: { MetricName: a.MetricName, Namespace: a.Namespace, Statistic: a.Statistic.toUpperCase(), Dimensions: a.Dimensions.map((d) => ({ name: d.Name, value: d.Value })), Period: a.Period, EvaluationPeriods: a.EvaluationPeriods, ComparisonOperator: a.ComparisonOperator, Threshold: a.Threshold, TreatMissingData: a.TreatMissingData },
    });
    for (const topic of actions) this.opts.publish(topic, `${next}: "${a.AlarmName}" in ${this.opts.region}`.slice(0, 100), message);
  }

  private saveAlarms(): void {
    writeFileSync(join(this.dir, 'alarms.json'), JSON.stringify([...this.alarms.values()], null, 2));
  }
}
