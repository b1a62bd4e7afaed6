/**
 * Seeded, deterministic food deliveries (CSV with a header) for a regression: how many minutes an order took
 * from checkout to the customer's door (`delivery_minutes`).
 *
 *   npx tsx examples/delivery-times/generate.ts --rows 3000 --seed 1 --variant clean --out deliveries.csv
 *
 * The same (rows, seed, variant) always gives the same bytes. The time is the restaurant's preparation time
 * (each restaurant has its own pace; bigger orders take longer), plus the ride (distance times a pace per
 * vehicle), plus the handover at the door (stairs without a lift, a gate code), plus noise. What slows the
 * ride differs by city (see CITIES): rain in Berlin and Amsterdam (bikes), rush hour in London and Paris
 * (cars and scooters), snow in Warsaw; Lisbon is noisy (hills, the hard slice).
 *
 * Messiness, as a real export has it: `distance` is text with a unit ("3.4 km"); `restaurant_id` has
 * hundreds of values, most of them rare; missing values (`weather`, `courier_rating`, `prep_estimate_min`);
 * a rare category (`weather` = hail); free-text `notes`, often empty; outliers (a courier who got lost, a
 * distance typed wrong).
 *
 * Variants ("bad days"):
 *  - clean       the reference distribution
 *  - label-text  ~3% of delivery times were exported as text ("52 min"): not a number a regression can learn
 *  - shift       a rainy week: most deliveries in the rain, slower everywhere (same concept)
 */
import { Readable } from 'node:stream';
import { cliMain, csvField, Rng, runCli, streamRows } from '../lib/generator';

export const VARIANTS = ['clean', 'label-text', 'shift'] as const;
export type DeliveryVariant = (typeof VARIANTS)[number];

export interface GenerateDeliveriesOptions {
  /** Number of data rows (the header is extra). */
  readonly rows: number;
  /** Seed of the pseudo-random generator; also part of every order_id, so two seeds never share ids. */
  readonly seed: number;
  /** @default 'clean' */
  readonly variant?: DeliveryVariant;
  /** Rows per pushed chunk. @default 2000 */
  readonly chunkRows?: number;
}

export const ID_COLUMN = 'order_id';
export const LABEL_COLUMN = 'delivery_minutes';
export const COLUMNS = [
  ID_COLUMN,
  'city',
  'restaurant_id',
  'distance',
  'items',
  'prep_estimate_min',
  'vehicle',
  'weather',
  'day_of_week',
  'hour',
  'courier_rating',
  'notes',
  LABEL_COLUMN,
] as const;

type Slowdown = 'rain' | 'rush' | 'snow' | 'noisy';

/** The cities (the slices), their share of orders and what slows a ride there. */
export const CITIES: ReadonlyArray<{ name: string; weight: number; slowdown: Slowdown }> = [
  { name: 'Berlin', weight: 22, slowdown: 'rain' },
  { name: 'Amsterdam', weight: 12, slowdown: 'rain' },
  { name: 'London', weight: 24, slowdown: 'rush' },
  { name: 'Paris', weight: 18, slowdown: 'rush' },
  { name: 'Warsaw', weight: 12, slowdown: 'snow' },
  { name: 'Lisbon', weight: 12, slowdown: 'noisy' },
];

const VEHICLES = ['bike', 'scooter', 'car'] as const;
/** Minutes per km in free-flowing traffic. */
const PACE: Record<string, number> = { bike: 3.6, scooter: 2.6, car: 2.3 };
const WEATHER = ['clear', 'cloudy', 'rain', 'snow', 'hail'] as const;
const WEATHER_WEIGHTS = { clean: [48, 30, 17, 4.7, 0.3], shift: [10, 20, 64, 5.7, 0.3] };
const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

const NOTES: ReadonlyArray<{ text: string; minutes: number }> = [
  { text: 'leave at the door', minutes: -1 },
  { text: 'ring the bell twice', minutes: 0 },
  { text: 'call when outside, the bell is broken', minutes: 2 },
  { text: '4th floor, no elevator', minutes: 4 },
  { text: '6th floor no lift sorry', minutes: 6 },
  { text: 'gate code 4411, then building B', minutes: 3 },
  { text: 'back entrance please', minutes: 1 },
  { text: 'extra napkins', minutes: 0 },
  { text: 'no cutlery thanks', minutes: 0 },
  { text: 'office reception, ask for the mailroom', minutes: 3 },
];

/** Restaurants are fixed across seeds: each keeps its city and its own preparation pace. */
const RESTAURANTS = 400;
function restaurant(k: number): { id: string; city: (typeof CITIES)[number]; prep: number } {
  const rng = new Rng(7919 * k + 3);
  const city = CITIES[rng.weighted(CITIES.map((c) => c.weight), 100)];
  return { id: `rest-${String(k).padStart(4, '0')}`, city, prep: 8 + 14 * rng.uniform() };
}
const RESTAURANT_TABLE = Array.from({ length: RESTAURANTS }, (_, i) => restaurant(i + 1));

/** The columns a variant writes (every variant has the same header). */
export function columnsOf(): string[] {
  return [...COLUMNS];
}

/** One order as CSV fields, in COLUMNS order. */
function makeRow(rng: Rng, index: number, seed: number, variant: DeliveryVariant): string {
  // Popular restaurants get most orders; most restaurants are rare.
  const r = RESTAURANT_TABLE[Math.min(RESTAURANTS - 1, Math.floor(RESTAURANTS * Math.pow(rng.uniform(), 2)))];
  const city = r.city;
  const vehicle = VEHICLES[rng.weighted([45, 35, 20], 100)];
  const weather = WEATHER[rng.weighted(variant === 'shift' ? WEATHER_WEIGHTS.shift : WEATHER_WEIGHTS.clean, 100)];
  const day = DAYS[Math.floor(rng.uniform() * 7)];
  // Lunch and dinner peaks.
  const hour = Math.round(rng.uniform() < 0.45 ? rng.normal(12.5, 1.2) : rng.normal(19.5, 1.6)) % 24;
  let distance = Math.max(0.3, Math.exp(rng.normal(1.0, 0.55)) * (vehicle === 'car' ? 1.5 : 1));
  const items = 1 + rng.poisson(1.6);

  // The planted signal: preparation + ride + handover, with a city-specific slowdown.
  const prep = r.prep * (1 + 0.06 * (items - 1));
  const rush = (hour >= 17 && hour <= 19) || (hour >= 12 && hour <= 13);
  let slowdown = 1;
  if (city.slowdown === 'rain' && (weather === 'rain' || weather === 'hail')) slowdown = vehicle === 'bike' ? 1.7 : 1.25;
  if (city.slowdown === 'rush' && rush) slowdown = vehicle === 'bike' ? 1.1 : 1.8;
  if (city.slowdown === 'snow' && weather === 'snow') slowdown = 2.0;
  if (weather === 'rain' && city.slowdown !== 'rain') slowdown *= 1.08;
  const ride = distance * PACE[vehicle] * slowdown;
  const note = rng.uniform() < 0.85 ? rng.pick(NOTES) : undefined;
  const weekend = day === 'Sat' || day === 'Sun' ? 2 : 0;
  const noise = city.slowdown === 'noisy' ? rng.normal(0, 9) : rng.normal(0, 3.5);
  let minutes = 4 + prep + ride + (note?.minutes ?? 0) + weekend + noise;
  if (rng.uniform() < 0.005) minutes += 20 + 40 * rng.uniform(); // the courier got lost
  minutes = Math.max(6, minutes);

  // The restaurant's own estimate is a noisy view of its preparation time.
  const estimate = Math.round(prep * Math.exp(rng.normal(0, 0.25)));
  if (rng.uniform() < 0.004) distance *= 10; // a distance typed wrong
  const rating = Math.min(5, Math.max(3, rng.normal(4.6, 0.3)));

  const estimateMissing = rng.uniform() < 0.1;
  const weatherMissing = rng.uniform() < 0.03;
  const ratingMissing = rng.uniform() < 0.08;
  const labelAsText = variant === 'label-text' && rng.uniform() < 0.03;
  return [
    `ord-${seed}-${String(index).padStart(7, '0')}`,
    city.name,
    r.id,
    `${distance.toFixed(1)} km`,
    String(items),
    estimateMissing ? '' : String(estimate),
    vehicle,
    weatherMissing ? '' : weather,
    day,
    String(hour),
    ratingMissing ? '' : rating.toFixed(1),
    note ? csvField(note.text) : '',
    labelAsText ? `${Math.round(minutes)} min` : minutes.toFixed(1),
  ].join(',');
}

/** Streams `rows` deliveries as CSV text (header first). Deterministic for (rows, seed, variant). */
export function generateDeliveries(opts: GenerateDeliveriesOptions): Readable {
  const variant = opts.variant ?? 'clean';
  return streamRows({ ...opts, variant, variants: VARIANTS, header: columnsOf(), row: (rng, index) => makeRow(rng, index, opts.seed, variant) });
}

/** CLI: --rows N --seed S [--variant V] [--out FILE] (stdout when --out is absent). */
export function main(argv: string[]): Promise<void> {
  return runCli(argv, VARIANTS, generateDeliveries, { rows: 3000, seed: 1 });
}

if (require.main === module) cliMain('generate', main);
