/** relearn's metrics: the engine (all metrics, overall and per group), slices and bias, and the deployment gate. */
export * from './engine';
export * from './multiclass';
export * from './slices';
export * from './gates';
export * from './stats';
export * from './sample-size';
