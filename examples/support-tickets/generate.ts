/**
 * Seeded, deterministic support tickets (CSV with a header) for a three-class problem: the priority a
 * support engineer gave each ticket, `low`, `medium` or `high`.
 *
 *   npx tsx examples/support-tickets/generate.ts --rows 3000 --seed 1 --variant clean --out tickets.csv
 *
 * The same (rows, seed, variant) always gives the same bytes. The priority is drawn from an ordered-logit
 * model of a latent urgency whose drivers differ by region (see REGIONS): the number of affected users in
 * NA, the customer's tier in EMEA, the channel in APAC (a phone call means it is urgent), and LATAM has a weak
 * signal (the hard slice). The product area and off-hours tickets push urgency up everywhere, and the subject
 * line follows the latent urgency, so its words carry signal too.
 *
 * Messiness, as a real export has it: `account_id` has hundreds of values (a few big accounts file most
 * tickets); `account_mrr` is money as text with a currency sign and thousands separators ("$1,250"); rare
 * categories (`channel` = social, `product_area` = legacy_sso); missing values; a heavy-tailed
 * `affected_users` with a few absurd outliers; empty subjects.
 *
 * Variants ("bad days"):
 *  - clean      the reference distribution
 *  - new-class  ~8% of tickets carry a fourth priority, `urgent`, that no model has seen
 *  - unlabeled  ~10% of tickets have no priority (the triage queue was exported before triage)
 *  - shift      an incident day: a third of tickets are login problems affecting many users (same concept)
 */
import { Readable } from 'node:stream';
import { cliMain, csvField, Rng, runCli, sigmoid, streamRows, withThousands } from '../lib/generator';

export const VARIANTS = ['clean', 'new-class', 'unlabeled', 'shift'] as const;
export type TicketVariant = (typeof VARIANTS)[number];

export interface GenerateTicketsOptions {
  /** Number of data rows (the header is extra). */
  readonly rows: number;
  /** Seed of the pseudo-random generator; also part of every ticket_id, so two seeds never share ids. */
  readonly seed: number;
  /** @default 'clean' */
  readonly variant?: TicketVariant;
  /** Rows per pushed chunk. @default 2000 */
  readonly chunkRows?: number;
}

export const ID_COLUMN = 'ticket_id';
export const LABEL_COLUMN = 'priority';
/** The classes in their meaningful order (the config names them, so the order is not alphabetical). */
export const CLASSES = ['low', 'medium', 'high'] as const;
export const COLUMNS = [
  ID_COLUMN,
  'account_id',
  'region',
  'customer_tier',
  'channel',
  'product_area',
  'affected_users',
  'account_mrr',
  'prior_tickets_30d',
  'opened_hour',
  'subject',
  LABEL_COLUMN,
] as const;

type Driver = 'users' | 'tier' | 'channel' | 'noisy';

/** The regions (the slices), their share of tickets and the driver of urgency there. */
export const REGIONS: ReadonlyArray<{ code: string; weight: number; driver: Driver }> = [
  { code: 'NA', weight: 40, driver: 'users' },
  { code: 'EMEA', weight: 30, driver: 'tier' },
  { code: 'APAC', weight: 20, driver: 'channel' },
  { code: 'LATAM', weight: 10, driver: 'noisy' },
];

/** Coefficients of [affected users, tier, channel] per driver; the noisy region has a weak signal. */
const DRIVER_COEF: Record<Driver, { users: number; tier: number; channel: number }> = {
  users: { users: 1.5, tier: 0.4, channel: 0.3 },
  tier: { users: 0.4, tier: 1.6, channel: 0.3 },
  channel: { users: 0.4, tier: 0.4, channel: 2.0 },
  noisy: { users: 0.15, tier: 0.15, channel: 0.15 },
};

const TIERS = ['free', 'standard', 'premium', 'enterprise'] as const;
const TIER_EFFECT: Record<string, number> = { free: -0.8, standard: 0, premium: 0.5, enterprise: 1.0 };
const TIER_MRR: Record<string, number> = { free: 0, standard: 300, premium: 1500, enterprise: 9000 };

const CHANNELS = ['email', 'chat', 'phone', 'web', 'api', 'social'] as const;
const CHANNEL_WEIGHTS = [34, 27, 14, 18, 6.6, 0.4];
const CHANNEL_EFFECT: Record<string, number> = { email: -0.3, chat: 0.1, phone: 1.0, web: -0.4, api: 0.4, social: -0.5 };

const AREAS = ['billing', 'login', 'api', 'dashboard', 'mobile_app', 'integrations', 'data_export', 'legacy_sso'] as const;
const AREA_WEIGHTS = { clean: [20, 15, 14, 18, 12, 11, 9.5, 0.5], shift: [10, 40, 12, 12, 8, 9, 8.5, 0.5] };
const AREA_EFFECT: Record<string, number> = {
  billing: 0.2,
  login: 0.8,
  api: 0.6,
  dashboard: -0.2,
  mobile_app: -0.3,
  integrations: 0.1,
  data_export: -0.1,
  legacy_sso: 1.0,
};

const SUBJECTS = {
  high: [
    'production is down for all our users',
    'nobody can log in since this morning',
    'api returns 500 errors on every request',
    'payments are failing at checkout',
    'data missing after the last sync',
    'outage, the dashboard will not load at all',
    'security: suspicious logins on admin account',
  ],
  medium: [
    'dashboard is very slow to load',
    'export takes hours to finish',
    'some users get logged out randomly',
    'webhook deliveries are delayed',
    'invoice shows the wrong amount',
    'sync skips a few records',
  ],
  low: [
    'hi, how do I change the invoice address',
    'feature request: dark mode',
    'question about api rate limits',
    'typo in the welcome email',
    'can you add a csv export for reports',
    'where do I find the audit log',
  ],
};

/** Accounts are fixed across seeds (an account keeps its region and tier from day to day). */
const ACCOUNTS = 300;
function account(k: number): { id: string; region: string; driver: Driver; tier: string; mrr: number } {
  const rng = new Rng(100003 * k + 17);
  const region = REGIONS[rng.weighted(REGIONS.map((r) => r.weight), 100)];
  const tier = TIERS[rng.weighted([35, 35, 20, 10], 100)];
  const mrr = tier === 'free' ? 0 : Math.round(TIER_MRR[tier] * Math.exp(rng.normal(0, 0.5)));
  return { id: `acct-${String(k).padStart(5, '0')}`, region: region.code, driver: region.driver, tier, mrr };
}
const ACCOUNT_TABLE = Array.from({ length: ACCOUNTS }, (_, i) => account(i + 1));

/** The columns a variant writes (every variant has the same header). */
export function columnsOf(): string[] {
  return [...COLUMNS];
}

/** One ticket as CSV fields, in COLUMNS order. */
function makeRow(rng: Rng, index: number, seed: number, variant: TicketVariant): string {
  const incident = variant === 'shift';
  // A few big accounts file most tickets: a power law over the account table.
  const acct = ACCOUNT_TABLE[Math.min(ACCOUNTS - 1, Math.floor(ACCOUNTS * Math.pow(rng.uniform(), 2.5)))];
  const channel = CHANNELS[rng.weighted(CHANNEL_WEIGHTS, 100)];
  const area = AREAS[rng.weighted(incident ? AREA_WEIGHTS.shift : AREA_WEIGHTS.clean, 100)];
  const incidentLogin = incident && area === 'login';
  let users = Math.max(1, Math.round(Math.exp(rng.normal(incidentLogin ? 3.5 : 1.5, 1.2))));
  const outlier = rng.uniform() < 0.006; // an absurd value typed by hand
  if (outlier) users *= 1000;
  const prior = rng.poisson(acct.tier === 'enterprise' ? 3 : 1.2);
  const hour = Math.floor(rng.uniform() * 24);

  // The planted signal: a latent urgency, with region-specific drivers.
  const k = DRIVER_COEF[acct.driver];
  const usersZ = (Math.log(Math.min(users, 5000)) - 1.5) / 1.2;
  const offHours = hour < 6 || hour >= 22 ? 0.5 : 0;
  const urgency =
    k.users * usersZ + k.tier * TIER_EFFECT[acct.tier] + k.channel * CHANNEL_EFFECT[channel] + AREA_EFFECT[area] + offHours + 0.08 * Math.min(prior, 6);

  // The subject follows the urgency (with noise); a quarter of subjects are written any old way.
  const mood = urgency + rng.normal(0, 1.0);
  const tone = rng.uniform() < 0.25 ? rng.pick(['low', 'medium', 'high'] as const) : mood > 1.2 ? 'high' : mood < -0.3 ? 'low' : 'medium';
  const subject = rng.pick(SUBJECTS[tone]);
  const toneEffect = tone === 'high' ? 0.7 : tone === 'low' ? -0.7 : 0;

  // Ordered logit: low | medium | high at two thresholds of the latent urgency.
  const u = rng.uniform();
  const z = 1.6 * (urgency + toneEffect);
  let priority: string = u < sigmoid(-0.6 - z) ? 'low' : u < sigmoid(2.8 - z) ? 'medium' : 'high';
  if (variant === 'new-class' && rng.uniform() < 0.08) priority = 'urgent';
  if (variant === 'unlabeled' && rng.uniform() < 0.1) priority = '';

  const usersMissing = rng.uniform() < 0.05;
  const mrrMissing = rng.uniform() < 0.02;
  const subjectEmpty = rng.uniform() < 0.03;
  return [
    `TCK-${seed}-${String(index).padStart(6, '0')}`,
    acct.id,
    acct.region,
    acct.tier,
    channel,
    area,
    usersMissing ? '' : String(users),
    mrrMissing ? '' : csvField(`$${withThousands(acct.mrr)}`),
    String(prior),
    String(hour),
    subjectEmpty ? '' : csvField(subject),
    priority,
  ].join(',');
}

/** Streams `rows` tickets as CSV text (header first). Deterministic for (rows, seed, variant). */
export function generateTickets(opts: GenerateTicketsOptions): Readable {
  const variant = opts.variant ?? 'clean';
  return streamRows({ ...opts, variant, variants: VARIANTS, header: columnsOf(), row: (rng, index) => makeRow(rng, index, opts.seed, variant) });
}

/** CLI: --rows N --seed S [--variant V] [--out FILE] (stdout when --out is absent). */
export function main(argv: string[]): Promise<void> {
  return runCli(argv, VARIANTS, generateTickets, { rows: 3000, seed: 1 });
}

if (require.main === module) cliMain('generate', main);
