/**
 * The slice of Amazon States Language that local mode reads: enough structure to walk every state,
 * including those nested in Map iterators and Parallel branches.
 */

export interface AslState {
  readonly Type: string;
  readonly Resource?: string;
  readonly Parameters?: unknown;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Seconds?: number;
  readonly SecondsPath?: string;
  readonly Timestamp?: string;
  readonly TimestampPath?: string;
  readonly TimeoutSeconds?: number;
  readonly Iterator?: AslDefinition;
  readonly ItemProcessor?: AslDefinition;
  readonly Branches?: AslDefinition[];
  readonly Retry?: { ErrorEquals: string[]; IntervalSeconds?: number; MaxAttempts?: number; BackoffRate?: number }[];
  readonly Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[];
  readonly [other: string]: unknown;
}

export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Record<string, AslState>;
  readonly Comment?: string;
  readonly TimeoutSeconds?: number;
  readonly [other: string]: unknown;
}

/** Every state, depth first; `path` shows nesting (`ComputeStatistics/ShardStatistics`). */
export function* eachState(def: AslDefinition, prefix = ''): Generator<{ name: string; state: AslState; path: string }> {
  for (const [name, state] of Object.entries(def.States ?? {})) {
    const path = prefix ? `${prefix}/${name}` : name;
    yield { name, state, path };
    const inner = state.ItemProcessor ?? state.Iterator;
    if (inner) yield* eachState(inner, path);
    for (const [i, branch] of (state.Branches ?? []).entries()) yield* eachState(branch, `${path}[${i}]`);
  }
}

/**
 * How long each Wait state waits locally, in ms. A Wait longer than `maxWaitSeconds` (the polling waits:
 * WaitForTraining, WaitForEndpoint) is shortened to it; shorter ones keep their time. A Wait whose time comes
 * from the state (SecondsPath, Timestamp, TimestampPath) is capped at `maxWaitSeconds` too.
 */
export function waitOverrides(def: AslDefinition, maxWaitSeconds: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { name, state } of eachState(def)) {
    if (state.Type !== 'Wait') continue;
    const seconds = typeof state.Seconds === 'number' ? Math.min(state.Seconds, maxWaitSeconds) : maxWaitSeconds;
    out[name] = Math.round(seconds * 1000);
  }
  return out;
}

/**
 * A copy of the definition in which each Lambda Task without TimeoutSeconds gets one slightly above its
 * function's own timeout. In the cloud such a task waits as long as the function runs (and the function's
 * timeout ends it); the local interpreter would otherwise stop it after 60 s. This is the only change local
 * mode makes to the synthesized definition.
 */
export function withTaskTimeouts(def: AslDefinition, timeoutOf: (stateName: string) => number | undefined): AslDefinition {
  const states: Record<string, AslState> = {};
  for (const [name, state] of Object.entries(def.States)) {
    let s: AslState = state;
    if (s.Type === 'Task' && s.TimeoutSeconds === undefined && s.TimeoutSecondsPath === undefined) {
      const t = timeoutOf(name);
      if (t !== undefined) s = { ...s, TimeoutSeconds: Math.ceil(t) + 5 };
    }
    if (s.ItemProcessor) s = { ...s, ItemProcessor: withTaskTimeouts(s.ItemProcessor, timeoutOf) };
    if (s.Iterator) s = { ...s, Iterator: withTaskTimeouts(s.Iterator, timeoutOf) };
    if (s.Branches) s = { ...s, Branches: s.Branches.map((b) => withTaskTimeouts(b, timeoutOf)) };
    states[name] = s;
  }
  return { ...def, States: states };
}

/**
 * What Step Functions would say about a Wait's `SecondsPath` on this input (the interpreter skips the path when a
 * wait is overridden, as local mode does): undefined when the state is no such Wait or the value is a whole number
 * >= 0, else the States.Runtime cause. Only plain `$.a.b` paths are read.
 */
export function waitPathProblem(def: AslDefinition, stateName: string, input: unknown): string | undefined {
  let state: AslState | undefined;
  for (const s of eachState(def)) if (s.name === stateName) state = s.state;
  if (state?.Type !== 'Wait' || typeof state.SecondsPath !== 'string') return undefined;
  const path = state.SecondsPath;
  if (!/^\$(\.[A-Za-z0-9_]+)+$/.test(path)) return undefined;
  let value: unknown = input;
  for (const part of path.slice(2).split('.')) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return undefined;
  return value === undefined
    ? `The SecondsPath parameter of Wait state ${stateName} does not reference an input value: ${path}`
    : `The SecondsPath parameter of Wait state ${stateName} does not reference a non-negative integer: ${path} = ${JSON.stringify(value)}`;
}
