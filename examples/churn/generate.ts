/**
 * Seeded, deterministic churn data (CSV with a header), streamed so it can write millions of rows.
 *
 *   npx tsx examples/churn/generate.ts --rows 5000 --seed 1 --variant clean --out churn.csv
 *
 * The same (rows, seed, variant) always gives the same bytes. The label `churned` is drawn from a known
 * logistic model whose drivers differ by country group (see COUNTRY_GROUP): low usage drives churn in the
 * "usage" countries, support tickets in the "support" countries, cheap plans in the "price" countries, and
 * the "noisy" countries have a weak signal (the hard slice). The last support message is drawn from the
 * customer's latent churn risk, so word frequencies carry signal too.
 *
 * Variants ("bad days"):
 *  - clean         the reference distribution
 *  - nulls         a broken upstream: `monthly_usage_hours` is empty on every row
 *  - shift         a shifted distribution: less usage, shorter tenure, more free plans (same concept)
 *  - empty-text    `last_message` is empty on every row
 *  - new-category  ~15% of rows have a plan (`team`) and a country (`KE`) never seen in clean data
 *  - missing-column  the `support_tickets` column is absent
 *
 * A deliberately weak model: train on clean data with the script's `--feature-columns plan` hyperparameter
 * (only the plan), which scores clearly worse than the default (all features); see docs/training-contract.md.
 */
import { Readable } from 'node:stream';
import { cliMain, csvField, Rng, runCli, sigmoid, streamRows } from '../lib/generator';

export const VARIANTS = ['clean', 'nulls', 'shift', 'empty-text', 'new-category', 'missing-column'] as const;
export type ChurnVariant = (typeof VARIANTS)[number];

export interface GenerateChurnOptions {
  /** Number of data rows (the header is extra). */
  readonly rows: number;
  /** Seed of the pseudo-random generator; also part of every customer_id, so two seeds never share ids. */
  readonly seed: number;
  /** @default 'clean' */
  readonly variant?: ChurnVariant;
  /** Rows per pushed chunk. @default 2000 */
  readonly chunkRows?: number;
}

export const ID_COLUMN = 'customer_id';
export const LABEL_COLUMN = 'churned';
export const ALL_COLUMNS = [
  ID_COLUMN,
  'company_size',
  'monthly_usage_hours',
  'tenure_months',
  'seats',
  'support_tickets',
  'plan',
  'country',
  'last_message',
  LABEL_COLUMN,
] as const;

type Group = 'usage' | 'support' | 'price' | 'noisy';

/** The 20 countries (the slices), their share of customers and the group whose churn driver they follow. */
export const COUNTRIES: ReadonlyArray<{ code: string; weight: number; group: Group; base: number }> = [
  { code: 'US', weight: 18, group: 'usage', base: -1.2 },
  { code: 'GB', weight: 8, group: 'usage', base: -1.1 },
  { code: 'CA', weight: 5, group: 'usage', base: -1.3 },
  { code: 'AU', weight: 4, group: 'usage', base: -1.0 },
  { code: 'NL', weight: 3, group: 'usage', base: -1.4 },
  { code: 'SE', weight: 3, group: 'usage', base: -1.5 },
  { code: 'DE', weight: 9, group: 'support', base: -1.3 },
  { code: 'FR', weight: 7, group: 'support', base: -1.0 },
  { code: 'ES', weight: 5, group: 'support', base: -0.9 },
  { code: 'IT', weight: 4, group: 'support', base: -0.9 },
  { code: 'PL', weight: 3, group: 'support', base: -1.1 },
  { code: 'PT', weight: 2, group: 'support', base: -0.8 },
  { code: 'BR', weight: 5, group: 'price', base: -0.6 },
  { code: 'MX', weight: 4, group: 'price', base: -0.5 },
  { code: 'IN', weight: 6, group: 'price', base: -0.4 },
  { code: 'ZA', weight: 2, group: 'price', base: -0.7 },
  { code: 'JP', weight: 4, group: 'noisy', base: -1.0 },
  { code: 'KR', weight: 3, group: 'noisy', base: -1.0 },
  { code: 'SG', weight: 2, group: 'noisy', base: -1.2 },
  { code: 'AE', weight: 3, group: 'noisy', base: -0.9 },
];

const PLANS = ['free', 'basic', 'pro', 'enterprise'] as const;
const PLAN_EFFECT: Record<string, number> = { free: 0.8, basic: 0.3, pro: -0.3, enterprise: -0.9, team: 0 };
const PLAN_WEIGHTS = { clean: [30, 35, 25, 10], shift: [55, 30, 12, 3] };

/** Per-group coefficients: [low usage, support tickets, cheap plan, tenure]; the noisy group has a weak signal. */
const GROUP_COEF: Record<Group, { usage: number; tickets: number; plan: number; tenure: number }> = {
  usage: { usage: 1.6, tickets: 0.2, plan: 0.5, tenure: 0.6 },
  support: { usage: 0.3, tickets: 1.4, plan: 0.5, tenure: 0.6 },
  price: { usage: 0.3, tickets: 0.2, plan: 1.8, tenure: 0.5 },
  noisy: { usage: 0.2, tickets: 0.15, plan: 0.2, tenure: 0.15 },
};

const MESSAGES = {
  negative: [
    'I want to cancel my subscription',
    'this is too expensive for what we use',
    'we are switching to a competitor next month',
    'the product keeps crashing and nobody answers',
    'please close our account',
    'still waiting for a refund, very disappointed',
    'billing charged us twice again, frustrated',
    'we no longer need this tool',
  ],
  neutral: [
    'how do I export my data to csv',
    'can you send the invoice for last month',
    'how do I add a new user to the team',
    'question about the api rate limits',
    'where can I change the billing address',
    'is there a mobile app',
  ],
  positive: [
    'thanks, the new dashboard is great',
    'love the latest release, keep it up',
    'the support team was really helpful',
    'we are adding more seats next quarter',
    'works perfectly for our team, thank you',
  ],
};

/** The columns a variant writes (all but `support_tickets` for missing-column). */
export function columnsOf(variant: ChurnVariant = 'clean'): string[] {
  return ALL_COLUMNS.filter((c) => !(variant === 'missing-column' && c === 'support_tickets'));
}

/** One customer as CSV fields, in `columnsOf(variant)` order. */
function makeRow(rng: Rng, index: number, seed: number, variant: ChurnVariant): string {
  const shift = variant === 'shift';
  const novel = variant === 'new-category' && rng.uniform() < 0.15;

  const countryWeights = COUNTRIES.map((c) => c.weight);
  const country = novel ? { code: 'KE', group: 'price' as Group, base: -0.6 } : COUNTRIES[rng.weighted(countryWeights, 100)];
  const planWeights = shift ? PLAN_WEIGHTS.shift : PLAN_WEIGHTS.clean;
  const plan = novel ? 'team' : PLANS[rng.weighted(planWeights, 100)];

  const companySize = Math.max(1, Math.round(Math.exp(rng.normal(3.5, 1.2))));
  const seats = Math.max(1, Math.min(companySize, Math.round(Math.exp(rng.normal(1.6, 0.8)))));
  const planUsage = plan === 'free' ? 0.5 : plan === 'enterprise' ? 1.4 : 1;
  const usage = Math.max(0, rng.normal(40, 15) * planUsage * (shift ? 0.6 : 1));
  const tenure = Math.min(120, Math.floor(-Math.log(1 - rng.uniform()) * (shift ? 10 : 24)));
  const tickets = rng.poisson(shift ? 2.2 : 1.5);

  // The planted signal: standardized drivers weighted by the country's group.
  const k = GROUP_COEF[country.group];
  const lowUsage = (40 - usage) / 15;
  const ticketsZ = (tickets - 1.5) / 1.2;
  const tenureZ = (tenure - 24) / 24;
  const cheapPlan = PLAN_EFFECT[plan];
  const logit = country.base + k.usage * lowUsage + k.tickets * ticketsZ + k.plan * cheapPlan - k.tenure * tenureZ;

  // The last message follows the latent risk (with noise), so its words carry part of the signal.
  const mood = logit + rng.normal(0, 1.2);
  const tone = rng.uniform() < 0.25 ? rng.pick(['negative', 'neutral', 'positive'] as const) : mood > 0.4 ? 'negative' : mood < -1.6 ? 'positive' : 'neutral';
  const message = rng.pick(MESSAGES[tone]);
  const churned = rng.uniform() < sigmoid(logit + (tone === 'negative' ? 0.6 : tone === 'positive' ? -0.6 : 0)) ? 1 : 0;

  // Some values are missing in every variant (as real exports are).
  const sizeMissing = rng.uniform() < 0.04;
  const usageMissing = rng.uniform() < 0.03;

  const fields: string[] = [
    `cust-${seed}-${String(index).padStart(7, '0')}`,
    sizeMissing ? '' : String(companySize),
    usageMissing || variant === 'nulls' ? '' : usage.toFixed(1),
    String(tenure),
    String(seats),
  ];
  if (variant !== 'missing-column') fields.push(String(tickets));
  fields.push(plan, country.code, variant === 'empty-text' ? '' : csvField(message), String(churned));
  return fields.join(',');
}

/** Streams `rows` churn rows as CSV text (header first). Deterministic for (rows, seed, variant). */
export function generateChurn(opts: GenerateChurnOptions): Readable {
  const variant = opts.variant ?? 'clean';
  return streamRows({
    ...opts,
    variant,
    variants: VARIANTS,
    header: columnsOf(variant),
    row: (rng, index) => makeRow(rng, index, opts.seed, variant),
  });
}

/** CLI: --rows N --seed S [--variant V] [--out FILE] (stdout when --out is absent). */
export function main(argv: string[]): Promise<void> {
  return runCli(argv, VARIANTS, generateChurn);
}

if (require.main === module) cliMain('generate', main);
