export * from './engine';
export * from './schema';
export * from './rules';
export * from './summary';
export { DDSketch } from './ddsketch';
export { HyperLogLog } from './hll';
export { FrequentItems } from './frequent';
export { Moments } from './moments';
export { murmur3, hashString } from './hash';
