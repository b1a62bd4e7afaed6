/**
 * The EventBridge rules of the synthesized template, locally: an event is matched against each rule's EventPattern
 * as EventBridge matches (every field of the pattern must match; a list matches when any of its values does; an
 * event array matches when any element does) and delivered to the rule's targets. The content filters relearn's
 * rules use are supported (exact values, `prefix`, `suffix`, `anything-but`, `exists`); any other filter is an
 * error at load time, so a rule local mode cannot evaluate is never silently skipped.
 */

export type EventPattern = Record<string, unknown>;

const FILTERS = new Set(['prefix', 'suffix', 'anything-but', 'exists']);

/** Throws when the pattern uses a filter this matcher does not know. */
export function checkPattern(pattern: unknown, where: string): void {
  if (Array.isArray(pattern)) {
    for (const v of pattern) {
      if (v !== null && typeof v === 'object') {
        for (const k of Object.keys(v)) if (!FILTERS.has(k)) throw new Error(`${where}: the event pattern filter "${k}" is not supported in local mode (supported: ${[...FILTERS].join(', ')})`);
      }
    }
    return;
  }
  if (pattern === null || typeof pattern !== 'object') throw new Error(`${where}: an event pattern's leaves must be arrays, but got ${JSON.stringify(pattern)}`);
  for (const [k, v] of Object.entries(pattern)) checkPattern(v, `${where}.${k}`);
}

/** True when `event` matches `pattern` (EventBridge's semantics for the supported filters). */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  if (event === null || typeof event !== 'object') return false;
  const e = event as Record<string, unknown>;
  for (const [key, want] of Object.entries(pattern)) {
    const have = e[key];
    if (Array.isArray(want)) {
      if (!matchesLeaf(want, have)) return false;
    } else if (!matchesPattern(want as EventPattern, have)) {
      return false;
    }
  }
  return true;
}

function matchesLeaf(allowed: unknown[], have: unknown): boolean {
  const values = Array.isArray(have) ? have : [have];
  return allowed.some((rule) => {
    if (rule !== null && typeof rule === 'object') {
      const [op, arg] = Object.entries(rule as Record<string, unknown>)[0];
      switch (op) {
        case 'exists':
          return arg === (have !== undefined);
        case 'prefix':
          return values.some((v) => typeof v === 'string' && v.startsWith(String(arg)));
        case 'suffix':
          return values.some((v) => typeof v === 'string' && v.endsWith(String(arg)));
        case 'anything-but': {
          const excluded = Array.isArray(arg) ? arg : [arg];
          return have !== undefined && values.every((v) => !excluded.includes(v));
        }
      }
      return false;
    }
    return values.some((v) => v === rule);
  });
}

export interface LocalRule {
  readonly name: string;
  readonly pattern: EventPattern;
  /** Delivers a matching event (the rule's target). */
  readonly deliver: (event: unknown) => void;
}

/** The default event bus: every rule whose pattern matches gets the event. */
export class LocalEventBus {
  private readonly rules: LocalRule[] = [];

  addRule(rule: LocalRule): void {
    checkPattern(rule.pattern, `rule ${rule.name}`);
    this.rules.push(rule);
  }

  /** Puts one event; returns the names of the rules that took it. */
  put(event: unknown): string[] {
    const matched: string[] = [];
    for (const rule of this.rules) {
      if (!matchesPattern(rule.pattern, event)) continue;
      rule.deliver(event);
      matched.push(rule.name);
    }
    return matched;
  }
}

/** S3's `Object Created` event as EventBridge delivers it, from s3rver's in-process S3 notification record. */
export function objectCreatedEvent(
  record: { eventTime?: string; s3?: { bucket?: { name?: string }; object?: { key?: string; size?: number; eTag?: string; versionId?: string; sequencer?: string } } },
  account: string,
  region: string,
): Record<string, unknown> {
  const bucket = record.s3?.bucket?.name ?? '';
  const o = record.s3?.object ?? {};
  return {
    version: '0',
    id: globalThis.crypto.randomUUID(),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account,
    time: (record.eventTime ?? new Date().toISOString()).replace(/\.\d+Z$/, 'Z'),
    region,
    resources: [`arn:aws:s3:::${bucket}`],
    detail: {
      version: '0',
      bucket: { name: bucket },
      object: {
        key: o.key ?? '',
        ...(o.size !== undefined ? { size: o.size } : {}),
        ...(o.eTag ? { etag: o.eTag.replace(/"/g, '') } : {}),
        ...(o.versionId ? { 'version-id': o.versionId } : {}),
        ...(o.sequencer ? { sequencer: o.sequencer } : {}),
      },
      'request-id': globalThis.crypto.randomUUID().slice(0, 16).toUpperCase(),
      requester: account,
      reason: 'PutObject',
    },
  };
}
