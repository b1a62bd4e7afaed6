import { stageHandler } from '../shared/handler';
import { notify } from './core';

/** One handler for the Notify, NotPromoted and NotifyFailure states: the outcome comes from the state. */
export const handler = stageHandler('Notify', notify);
