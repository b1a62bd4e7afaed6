/**
 * Execution names for tests, spelled from Step Functions' documentation (StartExecution: "A name must not
 * contain: white space, brackets < > { } [ ], wildcard characters ? *, special characters " # % \ ^ | ~ ` $ & , ; : /,
 * control characters (U+0000-001F, U+007F-009F, U+FFFE-FFFF), surrogates (U+D800-DFFF)", 1-80 characters),
 * independently of lambdas/shared/names.ts, so the tests check that code against the rule rather than itself.
 */

const FORBIDDEN_ASCII = ' <>{}[]?*"#%\\^|~`$&,;:/';

function allowed(cp: number): boolean {
  if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f) || cp === 0xfffe || cp === 0xffff) return false;
  if (cp >= 0xd800 && cp <= 0xdfff) return false;
  const ch = String.fromCodePoint(cp);
  if (FORBIDDEN_ASCII.includes(ch)) return false;
  return !/\s/u.test(ch); // white space, Unicode's included
}

/** Every code point an execution name may contain. */
export function executionNameCodePoints(): number[] {
  const out: number[] = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) if (allowed(cp)) out.push(cp);
  return out;
}

/** The printable ASCII characters Step Functions allows, in code point order. */
export const ALL_ALLOWED_ASCII = executionNameCodePoints()
  .filter((cp) => cp < 0x7f)
  .map((cp) => String.fromCodePoint(cp))
  .join('');

const pad = (s: string, length = 80) => (s + 'x'.repeat(length)).slice(0, length);

/**
 * Names at the edges: 80 characters (the limit, in UTF-16 code units) with every allowed ASCII character; quotes,
 * bangs and parentheses; letters of other scripts, a combining mark, a zero-width joiner in an emoji sequence,
 * a private-use character, a currency sign; dots and `=`, which look like path and encoding syntax.
 */
export const EDGE_EXECUTION_NAMES: readonly string[] = [
  pad(ALL_ALLOWED_ASCII),
  pad("retrain('2026-11-29')!-(manual)"),
  pad('é中文e\u0301ß٣€👩\u200d💻\ue000-run', 80),
  "run('a')",
  '(x)',
  '!',
  '=27',
  'a.b..c',
  '😀'.repeat(40),
];
