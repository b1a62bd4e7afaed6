/**
 * IAM policy evaluation, as AWS documents it ("Policy evaluation logic", "IAM JSON policy elements"), for the
 * policies a synthesized CDK template holds: identity policies, resource policies (bucket, topic) and KMS key
 * policies. Pure: no I/O, no clock. Local mode's servers call it through `Authorizer` (authorizer.ts).
 *
 * What it implements:
 * - Effect Allow/Deny; Action/NotAction, Resource/NotResource, Principal/NotPrincipal; `*` and `?` wildcards
 *   (actions case-insensitive, resources case-sensitive); policy variables `${aws:...}` from the request context.
 * - Explicit deny in any policy wins; then, within one account, an allow in the identity policies OR in the
 *   resource policy (naming the principal itself) allows. A resource policy that names the account
 *   (`arn:aws:iam::<account>:root` or the bare id) delegates to the account: the identity policy must allow.
 *   KMS is the exception AWS documents: the key policy must allow, either the principal directly or the
 *   account (which then enables the identity policies).
 * - Condition operators String*, Arn*, Bool, Null, Numeric*, each with `IfExists`, and the ForAnyValue:/
 *   ForAllValues: set operators; a missing key makes a positive operator false and a negated one true.
 * - A condition key the request context neither carries nor declares as known throws UnknownConditionKey: a
 *   key local mode does not model refuses loudly instead of silently allowing or denying.
 */

export type PolicyValue = string | string[];

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: PolicyValue;
  readonly NotAction?: PolicyValue;
  readonly Resource?: PolicyValue;
  readonly NotResource?: PolicyValue;
  readonly Principal?: '*' | Record<string, PolicyValue>;
  readonly NotPrincipal?: '*' | Record<string, PolicyValue>;
  readonly Condition?: Record<string, Record<string, PolicyValue | boolean | number>>;
}

export interface PolicyDocument {
  readonly Version?: string;
  readonly Statement: PolicyStatement | readonly PolicyStatement[];
}

/** A policy and where it comes from (named in a decision, e.g. `RelearnPipeline/IngestFnRoleDefaultPolicy`). */
export interface NamedPolicy {
  readonly name: string;
  readonly document: PolicyDocument;
}

/** Who makes the request. */
export interface RequestPrincipal {
  /** The caller's ARN as AWS reports it: `arn:aws:sts::<acct>:assumed-role/<role>/<session>` or a user ARN. */
  readonly arn: string;
  /** The IAM entity policies name: the role ARN for a role session, else `arn`. */
  readonly entityArn: string;
  readonly accountId: string;
}

export interface RequestContext {
  /** Values by condition key (keys compared case-insensitively). */
  readonly values: Readonly<Record<string, string | readonly string[] | undefined>>;
  /**
   * Keys this kind of request knows about even when absent from `values` (e.g. `s3:prefix` of a ListBucket
   * with no prefix), and key prefixes ending with `*` (e.g. `kms:EncryptionContext:*`).
   */
  readonly known?: readonly string[];
}

export interface EvaluationRequest {
  readonly principal: RequestPrincipal;
  /** `service:Action`, e.g. `s3:GetObject`. */
  readonly action: string;
  readonly resource: string;
  readonly resourceAccountId: string;
  readonly context: RequestContext;
  readonly identityPolicies: readonly NamedPolicy[];
  /** The resource's own policy (bucket policy, topic policy, key policy), if it has one. */
  readonly resourcePolicy?: NamedPolicy;
  /** KMS semantics: the key policy must allow (directly, or by enabling IAM policies for the account). */
  readonly resourcePolicyRequired?: boolean;
}

export type Decision =
  | { readonly allowed: true; readonly by: string }
  | { readonly allowed: false; readonly reason: DenialReason; readonly by?: string };

/** Why a request is denied, in AWS's own words (the end of an AccessDenied message). */
export type DenialReason = 'explicit-deny-identity' | 'explicit-deny-resource' | 'no-identity-allow' | 'no-resource-allow';

export class UnknownConditionKey extends Error {
  constructor(
    readonly key: string,
    readonly policy: string,
    readonly action: string,
  ) {
    super(
      `condition key ${key} (policy ${policy}, evaluating ${action}) is not modelled by local mode's authorizer: ` +
        'add it to the request context of that service (local/iam/requests.ts) rather than guess',
    );
    this.name = 'UnknownConditionKey';
  }
}

export class UnsupportedPolicy extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedPolicy';
  }
}

const asList = (v: PolicyValue | undefined): readonly string[] => (v === undefined ? [] : typeof v === 'string' ? [v] : v);
export const statementsOf = (doc: PolicyDocument): readonly PolicyStatement[] => (Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement as PolicyStatement]);

const globCache = new Map<string, RegExp>();
/** `*` = any run of characters, `?` = one character; everything else literal. */
export function globMatch(pattern: string, value: string, ignoreCase = false): boolean {
  if (pattern === '*') return true;
  const cacheKey = (ignoreCase ? 'i:' : 's:') + pattern;
  let re = globCache.get(cacheKey);
  if (!re) {
    const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    re = new RegExp(`^${body}$`, ignoreCase ? 'is' : 's');
    globCache.set(cacheKey, re);
  }
  return re.test(value);
}

function contextValue(ctx: RequestContext, key: string): readonly string[] | undefined {
  const lower = key.toLowerCase();
  for (const [k, v] of Object.entries(ctx.values)) {
    if (k.toLowerCase() === lower) return v === undefined ? undefined : typeof v === 'string' ? [v] : v;
  }
  return undefined;
}

function isKnown(ctx: RequestContext, key: string): boolean {
  const lower = key.toLowerCase();
  if (Object.keys(ctx.values).some((k) => k.toLowerCase() === lower)) return true;
  return (ctx.known ?? []).some((k) => (k.endsWith('*') ? lower.startsWith(k.slice(0, -1).toLowerCase()) : k.toLowerCase() === lower));
}

/** Replaces `${aws:username}`-style variables (and `${*}`, `${?}`, `${$}`) from the context. */
function substitute(pattern: string, ctx: RequestContext, where: { policy: string; action: string }): string {
  if (!pattern.includes('${')) return pattern;
  return pattern.replace(/\$\{([^}]+)\}/g, (_all, name: string) => {
    if (name === '*' || name === '?' || name === '$') return name; // literal escapes keep their character
    const [key, fallback] = name.split(/,\s*'/);
    const v = contextValue(ctx, key.trim());
    if (v && v.length === 1) return v[0];
    if (fallback !== undefined) return fallback.replace(/'$/, '');
    if (!isKnown(ctx, key.trim())) throw new UnknownConditionKey(key.trim(), where.policy, where.action);
    return '\u0000'; // a variable with no value matches nothing (AWS: the statement does not apply)
  });
}

type Operator = (policyValue: string, requestValue: string) => boolean;

const BASE_OPERATORS: Record<string, { test: Operator; negated: boolean }> = {
  StringEquals: { test: (p, r) => p === r, negated: false },
  StringNotEquals: { test: (p, r) => p === r, negated: true },
  StringEqualsIgnoreCase: { test: (p, r) => p.toLowerCase() === r.toLowerCase(), negated: false },
  StringNotEqualsIgnoreCase: { test: (p, r) => p.toLowerCase() === r.toLowerCase(), negated: true },
  StringLike: { test: (p, r) => globMatch(p, r), negated: false },
  StringNotLike: { test: (p, r) => globMatch(p, r), negated: true },
  ArnEquals: { test: (p, r) => arnMatch(p, r), negated: false },
  ArnLike: { test: (p, r) => arnMatch(p, r), negated: false },
  ArnNotEquals: { test: (p, r) => arnMatch(p, r), negated: true },
  ArnNotLike: { test: (p, r) => arnMatch(p, r), negated: true },
  Bool: { test: (p, r) => p.toLowerCase() === r.toLowerCase(), negated: false },
  NumericEquals: { test: (p, r) => Number(r) === Number(p), negated: false },
  NumericNotEquals: { test: (p, r) => Number(r) === Number(p), negated: true },
  NumericLessThan: { test: (p, r) => Number(r) < Number(p), negated: false },
  NumericLessThanEquals: { test: (p, r) => Number(r) <= Number(p), negated: false },
  NumericGreaterThan: { test: (p, r) => Number(r) > Number(p), negated: false },
  NumericGreaterThanEquals: { test: (p, r) => Number(r) >= Number(p), negated: false },
};

/** ARN matching: the six colon-separated parts compared one by one, each a glob (AWS's ArnLike). */
function arnMatch(pattern: string, arn: string): boolean {
  const p = pattern.split(':');
  const a = arn.split(':');
  if (p.length < 6 || a.length < 6) return globMatch(pattern, arn);
  const head = (parts: string[]) => [...parts.slice(0, 5), parts.slice(5).join(':')];
  const hp = head(p);
  const ha = head(a);
  return hp.every((part, i) => globMatch(part, ha[i]));
}

function conditionMatches(
  operatorName: string,
  key: string,
  rawValues: PolicyValue | boolean | number,
  ctx: RequestContext,
  where: { policy: string; action: string },
): boolean {
  let op = operatorName;
  let set: 'ForAnyValue' | 'ForAllValues' | undefined;
  const m = /^(ForAnyValue|ForAllValues):(.+)$/.exec(op);
  if (m) {
    set = m[1] as 'ForAnyValue' | 'ForAllValues';
    op = m[2];
  }
  const ifExists = op.endsWith('IfExists');
  if (ifExists) op = op.slice(0, -'IfExists'.length);
  const policyValues = (Array.isArray(rawValues) ? rawValues : [rawValues]).map((v) => substitute(String(v), ctx, where));
  if (!isKnown(ctx, key)) throw new UnknownConditionKey(key, where.policy, where.action);
  const requestValues = contextValue(ctx, key);
  if (op === 'Null') {
    const absent = requestValues === undefined || requestValues.length === 0;
    return policyValues.some((v) => (v.toLowerCase() === 'true' ? absent : !absent));
  }
  const base = BASE_OPERATORS[op];
  if (!base) throw new UnsupportedPolicy(`condition operator ${operatorName} (policy ${where.policy}) is not supported by local mode's authorizer`);
  if (requestValues === undefined || requestValues.length === 0) {
    if (ifExists) return true;
    if (set === 'ForAllValues') return true;
    if (set === 'ForAnyValue') return false;
    return base.negated;
  }
  const matchesOne = (r: string) => policyValues.some((p) => base.test(p, r));
  if (set === 'ForAllValues') return requestValues.every((r) => (base.negated ? !matchesOne(r) : matchesOne(r)));
  if (set === 'ForAnyValue') return requestValues.some((r) => (base.negated ? !matchesOne(r) : matchesOne(r)));
  // A single-valued key: a positive operator matches when any policy value matches; a negated one when none does.
  const any = requestValues.some(matchesOne);
  return base.negated ? !any : any;
}

/** Every condition block of a statement must match (AND across operators and keys, OR across values). */
function conditionsMatch(st: PolicyStatement, ctx: RequestContext, where: { policy: string; action: string }): boolean {
  for (const [op, block] of Object.entries(st.Condition ?? {})) {
    for (const [key, values] of Object.entries(block)) {
      if (!conditionMatches(op, key, values, ctx, where)) return false;
    }
  }
  return true;
}

function actionMatches(st: PolicyStatement, action: string): boolean {
  if (st.Action !== undefined) return asList(st.Action).some((a) => globMatch(a, action, true));
  if (st.NotAction !== undefined) return !asList(st.NotAction).some((a) => globMatch(a, action, true));
  return false;
}

function resourceMatches(st: PolicyStatement, resource: string, ctx: RequestContext, where: { policy: string; action: string }): boolean {
  const match = (patterns: readonly string[]) => patterns.some((p) => (p === '*' ? true : arnMatch(substitute(p, ctx, where), resource)));
  if (st.Resource !== undefined) return match(asList(st.Resource));
  if (st.NotResource !== undefined) return !match(asList(st.NotResource));
  return false;
}

/** How a resource policy's Principal element relates to the caller. */
type PrincipalMatch = 'direct' | 'account' | 'none';

function principalMatch(st: PolicyStatement, p: RequestPrincipal): PrincipalMatch {
  const test = (principal: '*' | Record<string, PolicyValue> | undefined): PrincipalMatch => {
    if (principal === undefined) return 'none';
    if (principal === '*') return 'direct';
    let best: PrincipalMatch = 'none';
    for (const value of asList(principal.AWS)) {
      if (value === '*' || value === p.arn || value === p.entityArn) return 'direct';
      if (value === p.accountId || value === `arn:aws:iam::${p.accountId}:root`) best = 'account';
    }
    return best; // Service / Federated principals never match a role session's own call
  };
  if (st.NotPrincipal !== undefined) return test(st.NotPrincipal) === 'none' ? 'direct' : 'none';
  return test(st.Principal);
}

interface Matched {
  readonly policy: string;
  readonly statement: PolicyStatement;
  readonly principal: PrincipalMatch;
}

function matching(policies: readonly NamedPolicy[], req: EvaluationRequest, withPrincipal: boolean): Matched[] {
  const out: Matched[] = [];
  for (const policy of policies) {
    statementsOf(policy.document).forEach((st, i) => {
      const where = { policy: `${policy.name}${st.Sid ? `#${st.Sid}` : `[${i}]`}`, action: req.action };
      const principal = withPrincipal ? principalMatch(st, req.principal) : 'direct';
      if (principal === 'none') return;
      if (!actionMatches(st, req.action)) return;
      if (!resourceMatches(st, req.resource, req.context, where)) return;
      if (!conditionsMatch(st, req.context, where)) return;
      out.push({ policy: where.policy, statement: st, principal });
    });
  }
  return out;
}

/**
 * AWS's evaluation for a request within one account (the only kind local mode has): explicit deny anywhere
 * wins; else allowed when an identity policy allows, or the resource policy allows the principal itself.
 */
export function evaluate(req: EvaluationRequest): Decision {
  const identity = matching(req.identityPolicies, req, false);
  const resource = req.resourcePolicy ? matching([req.resourcePolicy], req, true) : [];
  const identityDeny = identity.find((m) => m.statement.Effect === 'Deny');
  if (identityDeny) return { allowed: false, reason: 'explicit-deny-identity', by: identityDeny.policy };
  const resourceDeny = resource.find((m) => m.statement.Effect === 'Deny');
  if (resourceDeny) return { allowed: false, reason: 'explicit-deny-resource', by: resourceDeny.policy };
  const identityAllow = identity.find((m) => m.statement.Effect === 'Allow');
  const resourceDirect = resource.find((m) => m.statement.Effect === 'Allow' && m.principal === 'direct');
  const resourceAccount = resource.find((m) => m.statement.Effect === 'Allow' && m.principal === 'account');
  if (req.resourcePolicyRequired) {
    // KMS: the key policy decides; naming the account enables IAM policies for it.
    if (resourceDirect) return { allowed: true, by: resourceDirect.policy };
    if (resourceAccount && identityAllow) return { allowed: true, by: `${resourceAccount.policy} + ${identityAllow.policy}` };
    return resourceAccount || !req.resourcePolicy ? { allowed: false, reason: 'no-identity-allow' } : { allowed: false, reason: 'no-resource-allow' };
  }
  const sameAccount = req.resourceAccountId === req.principal.accountId;
  if (identityAllow) return { allowed: true, by: identityAllow.policy };
  if (sameAccount && resourceDirect) return { allowed: true, by: resourceDirect.policy };
  return { allowed: false, reason: 'no-identity-allow' };
}
