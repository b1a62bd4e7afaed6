import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/package-root';

/**
 * Request validation against the official service models (botocore's, subsets committed under
 * local/services/api-models/ with their provenance; see scripts/extract-api-models.ts). What AWS's front end
 * checks before an operation runs: required members, types, string and collection lengths, numeric ranges,
 * enums, and patterns (matched against the whole value, as AWS's Java validators do). Violations are collected
 * and reported in AWS's own words:
 *
 *   1 validation error detected: Value 'bad!name' at 'trainingJobName' failed to satisfy constraint: Member
 *   must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}
 *
 * A value of the wrong JSON type is a SerializationException, as with AWS's JSON protocol. Members the model does
 * not know are ignored (the SDK is newer than the pinned model) and counted, so nothing passes unseen.
 */

interface ShapeRef {
  readonly shape: string;
  readonly location?: string;
  readonly locationName?: string;
}

interface Shape {
  readonly type: string;
  readonly required?: readonly string[];
  readonly members?: Readonly<Record<string, ShapeRef>>;
  readonly member?: ShapeRef;
  readonly key?: ShapeRef;
  readonly value?: ShapeRef;
  readonly min?: number;
  readonly max?: number;
  readonly pattern?: string;
  readonly enum?: readonly string[];
}

interface ServiceModel {
  readonly provenance: Record<string, string>;
  readonly operations: Readonly<Record<string, { input?: ShapeRef }>>;
  readonly shapes: Readonly<Record<string, Shape>>;
}

export type ApiModelService = 'sagemaker' | 'sagemaker-runtime' | 'sns';

// From relearn's own folder: the JSON models are files of the package, not compiled code (dist/ has none).
const MODEL_DIR = join(PACKAGE_ROOT, 'local', 'services', 'api-models');
const models = new Map<ApiModelService, ServiceModel>();

export function serviceModel(service: ApiModelService): ServiceModel {
  let m = models.get(service);
  if (!m) {
    m = JSON.parse(readFileSync(join(MODEL_DIR, `${service}.json`), 'utf8')) as ServiceModel;
    models.set(service, m);
  }
  return m;
}

const patternCache = new Map<string, RegExp>();

/**
 * A botocore pattern (Java regex syntax) as a JavaScript RegExp that matches the whole value. Java-only syntax
 * is translated: `\A`/`\z`/`\Z` anchors, `\p{Print}`/`\p{ASCII}` classes, a quantified end anchor (`${1,128}`,
 * which Java accepts and means `$`); Unicode property classes need the `u` flag, so it is always on.
 */
export function compilePattern(pattern: string): RegExp {
  let re = patternCache.get(pattern);
  if (re) return re;
  const js = pattern
    .replace(/\\A/g, '^')
    .replace(/\\[zZ]/g, '$')
    .replace(/\\p\{Print\}/g, '\\x20-\\x7E')
    .replace(/\\p\{ASCII\}/g, '[\\x00-\\x7F]')
    .replace(/\$\{\d+(,\d*)?\}/g, '$');
  // Java's \p{Print} appears inside brackets ([\p{Print}]); outside them it needs brackets of its own.
  const fixed = js.replace(/(^|[^[\\])\\x20-\\x7E/g, '$1[\\x20-\\x7E]');
  re = new RegExp(`^(?:${fixed})$`, 'u');
  patternCache.set(pattern, re);
  return re;
}

/** camelCase, as AWS names members in validation messages (`TrainingJobName` -> `trainingJobName`). */
const lowerFirst = (s: string): string => s.charAt(0).toLowerCase() + s.slice(1);

const render = (v: unknown): string => (v === null || v === undefined ? 'null' : typeof v === 'string' ? v : JSON.stringify(v));

export class SerializationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SerializationException';
  }
}

export interface ValidationResult {
  /** AWS's constraint messages ("Value 'x' at 'a.b' failed to satisfy constraint: ..."). */
  readonly errors: string[];
  /** Paths of members the model does not know (ignored, as the newer SDK may send them). */
  readonly unknownMembers: string[];
}

/** Validates `input` against the operation's input shape. Throws SerializationError for a wrong JSON type. */
export function validateInput(service: ApiModelService, operation: string, input: unknown): ValidationResult {
  const model = serviceModel(service);
  const op = model.operations[operation];
  if (!op) throw new Error(`the pinned ${service} model has no operation ${operation}`);
  const result: ValidationResult = { errors: [], unknownMembers: [] };
  if (op.input) visit(model, op.input.shape, input ?? {}, '', result);
  return result;
}

/** "1 validation error detected: ..." or "N validation errors detected: a; b". */
export function validationMessage(errors: readonly string[]): string {
  return `${errors.length} validation error${errors.length === 1 ? '' : 's'} detected: ${errors.join('; ')}`;
}

function visit(model: ServiceModel, shapeName: string, value: unknown, path: string, out: ValidationResult): void {
  const shape = model.shapes[shapeName];
  if (!shape) throw new Error(`model shape ${shapeName} missing`);
  const where = path || 'input';
  const fail = (constraint: string) => out.errors.push(`Value ${value === null ? 'null' : `'${render(value)}'`} at '${where}' failed to satisfy constraint: ${constraint}`);
  const wrongType = (expected: string) => {
    throw new SerializationError(`Value at '${where}' must be ${expected}, but got ${Array.isArray(value) ? 'an array' : typeof value}`);
  };
  switch (shape.type) {
    case 'structure': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return wrongType('an object');
      const obj = value as Record<string, unknown>;
      for (const req of shape.required ?? []) {
        if (obj[req] === undefined || obj[req] === null) out.errors.push(`Value null at '${join2(path, lowerFirst(req))}' failed to satisfy constraint: Member must not be null`);
      }
      for (const [k, v] of Object.entries(obj)) {
        const member = shape.members?.[k];
        if (!member) {
          out.unknownMembers.push(join2(path, lowerFirst(k)));
          continue;
        }
        if (v === undefined || v === null) continue;
        visit(model, member.shape, v, join2(path, lowerFirst(k)), out);
      }
      return;
    }
    case 'list': {
      if (!Array.isArray(value)) return wrongType('an array');
      if (shape.min !== undefined && value.length < shape.min) fail(`Member must have length greater than or equal to ${shape.min}`);
      if (shape.max !== undefined && value.length > shape.max) fail(`Member must have length less than or equal to ${shape.max}`);
      value.forEach((item, i) => visit(model, shape.member!.shape, item, `${where}.${i + 1}.member`, out));
      return;
    }
    case 'map': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return wrongType('an object');
      const entries = Object.entries(value as Record<string, unknown>);
      if (shape.min !== undefined && entries.length < shape.min) fail(`Member must have length greater than or equal to ${shape.min}`);
      if (shape.max !== undefined && entries.length > shape.max) fail(`Member must have length less than or equal to ${shape.max}`);
      for (const [k, v] of entries) {
        visit(model, shape.key!.shape, k, `${where}.${k}.key`, out);
        visit(model, shape.value!.shape, v, `${where}.${k}.value`, out);
      }
      return;
    }
    case 'string': {
      if (typeof value !== 'string') return wrongType('a string');
      const length = [...value].length;
      if (shape.min !== undefined && length < shape.min) fail(`Member must have length greater than or equal to ${shape.min}`);
      if (shape.max !== undefined && length > shape.max) fail(`Member must have length less than or equal to ${shape.max}`);
      if (shape.enum && !shape.enum.includes(value)) fail(`Member must satisfy enum value set: [${shape.enum.join(', ')}]`);
      if (shape.pattern && !compilePattern(shape.pattern).test(value)) fail(`Member must satisfy regular expression pattern: ${shape.pattern}`);
      return;
    }
    case 'integer':
    case 'long':
    case 'float':
    case 'double': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return wrongType('a number');
      if ((shape.type === 'integer' || shape.type === 'long') && !Number.isInteger(value)) return wrongType('a whole number');
      if (shape.min !== undefined && value < shape.min) fail(`Member must have value greater than or equal to ${shape.min}`);
      if (shape.max !== undefined && value > shape.max) fail(`Member must have value less than or equal to ${shape.max}`);
      return;
    }
    case 'boolean':
      if (typeof value !== 'boolean') wrongType('a boolean');
      return;
    case 'timestamp':
      if (typeof value !== 'number' && typeof value !== 'string') wrongType('a timestamp');
      return;
    case 'blob': {
      const size = Buffer.isBuffer(value) ? value.length : typeof value === 'string' ? Buffer.byteLength(value) : -1;
      if (size < 0) return wrongType('a blob');
      if (shape.max !== undefined && size > shape.max) fail(`Member must have length less than or equal to ${shape.max}`);
      return;
    }
    default:
      throw new Error(`model shape ${shapeName}: type ${shape.type} is not handled by the validator`);
  }
}

const join2 = (path: string, member: string): string => (path ? `${path}.${member}` : member);
