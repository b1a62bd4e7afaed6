import { stageHandler } from '../shared/handler';
import { resolveRollback } from './core';

/** ResolveRollback: what a rollback puts back on the endpoint, or RollbackRefused (the whole state as its result). */
export const handler = stageHandler('ResolveRollback', resolveRollback);
