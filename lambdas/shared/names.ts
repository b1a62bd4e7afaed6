import { createHash } from 'node:crypto';
import { SAGEMAKER_STRING_SHAPES } from './sagemaker-api.generated';

/**
 * Names of the SageMaker resources a run creates, derived from the execution name so that a retried
 * stage finds its own resource again ("already exists" for our own name is success).
 * SageMaker names: letters, digits and hyphens, at most 63 characters.
 */
export function runResourceName(prefix: string, executionName: string, kind = ''): string {
  const hash = createHash('sha256').update(`${executionName}|${kind}`).digest('hex').slice(0, 8);
  const slug = executionName
    .replace(/[^a-zA-Z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  const head = [prefix, kind].filter(Boolean).join('-');
  const room = 63 - head.length - hash.length - 2;
  const middle = slug.slice(0, Math.max(0, room)).replace(/-$/, '');
  return [head, middle, hash].filter(Boolean).join('-');
}

export const trainingJobName = (prefix: string, executionName: string) => runResourceName(prefix, executionName, 'train');
export const modelName = (prefix: string, executionName: string) => runResourceName(prefix, executionName, 'model');
export const endpointConfigName = (prefix: string, executionName: string) => runResourceName(prefix, executionName, 'epc');

// ---- Step Functions execution names -------------------------------------------------------------------

/** StartExecution's name limit (characters). */
export const EXECUTION_NAME_MAX = 80;

/**
 * What Step Functions refuses in an execution name (StartExecution): white space, `< > { } [ ]`, `? *`,
 * `" # % \ ^ | ~ \` $ & , ; : /`, control characters (U+0000-001F, U+007F-009F, U+FFFE-FFFF) and lone surrogates.
 * Everything else is allowed, so names may hold `! ' ( ) + = @ .` and any letter, mark or symbol of Unicode.
 */
const EXECUTION_NAME_FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f\ufffe\uffff]|\p{Cs}/u;

/** An execution name Step Functions accepts (1 to 80 characters, none of the forbidden ones). */
export function isValidExecutionName(name: string): boolean {
  // Counted in UTF-16 code units, the stricter of the two ways a service may count (an emoji is two).
  return name.length >= 1 && name.length <= EXECUTION_NAME_MAX && !EXECUTION_NAME_FORBIDDEN.test(name);
}

// ---- SageMaker's string patterns ----------------------------------------------------------------------

type StringShape = keyof typeof SAGEMAKER_STRING_SHAPES;

/**
 * The service model's pattern as a JavaScript RegExp that must match the whole value. The model writes Java
 * regular expressions; the only translation needed for the shapes used here is the `${1,256}` that follows the
 * end anchor in the CustomerMetadata patterns (a no-op quantifier in Java, a syntax error in JavaScript).
 */
export function shapePattern(shape: StringShape): RegExp {
  let re = compiled.get(shape);
  if (!re) {
    const source = SAGEMAKER_STRING_SHAPES[shape].pattern.replace(/\$\{\d+,\d+\}$/, '$');
    compiled.set(shape, (re = new RegExp(`^(?:${source})$`, 'u')));
  }
  return re;
}
const compiled = new Map<StringShape, RegExp>();

/**
 * True when `value` satisfies the shape's pattern and length. The length is counted in UTF-16 code units (as Java
 * counts a String, an emoji being two): never less than the count of characters, so a value that fits here fits
 * however the service counts.
 */
export function fitsShape(shape: StringShape, value: string): boolean {
  const s: { min?: number; max?: number } = SAGEMAKER_STRING_SHAPES[shape];
  return value.length >= (s.min ?? 0) && value.length <= (s.max ?? Infinity) && shapePattern(shape).test(value);
}

const TAG_CHAR = /[\p{L}\p{Z}\p{N}_.:/=+\-@]/u;

/**
 * A value for a SageMaker tag or a model package's CustomerMetadataProperties (both allow letters, separators,
 * digits and `_ . : / = + - @`, at most 256 characters). A value that fits is kept exactly as it is. One that does
 * not (an execution name with `! ' ( )`, an emoji, an S3 URI holding such a name) is encoded, reversibly and
 * readably: `enc:` then the value with `=` and every character outside that set written as `=XX` (its UTF-8 bytes
 * in hex), so `run('a')` becomes `enc:run=28=27a=27=29`. The `enc:` prefix cannot begin a kept value that came
 * from an execution name (Step Functions names cannot hold `:`), so no two names give the same tag. An encoding
 * longer than 256 characters becomes `sha256:<64 hex>` of the value.
 */
export function tagSafe(value: string): string {
  if (value.length > 0 && fitsShape('TagValue', value) && fitsShape('CustomerMetadataValue', value)) return value;
  let encoded = 'enc:';
  for (const ch of value) {
    if (ch !== '=' && TAG_CHAR.test(ch)) encoded += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) encoded += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (encoded.length <= SAGEMAKER_STRING_SHAPES.TagValue.max) return encoded;
  return `sha256:${createHash('sha256').update(value).digest('hex')}`;
}

/** The inverse of tagSafe for an `enc:` value (a hashed value cannot be read back: undefined). */
export function tagSafeDecode(value: string): string | undefined {
  if (value.startsWith('sha256:')) return undefined;
  if (!value.startsWith('enc:')) return value;
  const bytes: number[] = [];
  const body = value.slice(4);
  for (let i = 0; i < body.length; ) {
    if (body[i] === '=') {
      bytes.push(parseInt(body.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      const cp = body.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      bytes.push(...Buffer.from(ch, 'utf8'));
      i += ch.length;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

const DESCRIPTION_CHAR = /[\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]/u;

/**
 * Text for a model package description (letters, marks, separators, symbols, digits and punctuation; at most
 * 1,024 characters): any other character (a line break, a zero-width joiner, a private-use character) becomes
 * U+FFFD, and a longer text is cut with `...`. For people to read, not to match on.
 */
export function descriptionSafe(text: string, max: number = SAGEMAKER_STRING_SHAPES.EntityDescription.max): string {
  const chars = [...text].map((ch) => (DESCRIPTION_CHAR.test(ch) ? ch : '\ufffd'));
  const whole = chars.join('');
  if (whole.length <= max) return whole;
  // Cut whole characters (never half an emoji) until it fits in `max` UTF-16 code units with the ellipsis.
  let cut = '';
  for (const ch of chars) {
    if (cut.length + ch.length > max - 3) break;
    cut += ch;
  }
  return `${cut}...`;
}
