import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../atomic';

/** A JSON document as SageMaker stores it: the request's fields plus what the service adds. */
export type Doc = Record<string, unknown>;

export interface StateShape {
  trainingJobs: Record<string, Doc>;
  models: Record<string, Doc>;
  endpointConfigs: Record<string, Doc>;
  endpoints: Record<string, Doc>;
  modelPackageGroups: Record<string, Doc>;
  /** Keyed by ModelPackageArn. */
  modelPackages: Record<string, Doc>;
  /**
   * Local bookkeeping, not part of any SageMaker answer: per endpoint, the config it last served InService. An
   * endpoint whose serving process crashed (Failed) is brought back on it, as SageMaker replaces failed instances.
   */
  serving: Record<string, { lastInServiceConfig: string }>;
}

const empty = (): StateShape => ({ trainingJobs: {}, models: {}, endpointConfigs: {}, endpoints: {}, modelPackageGroups: {}, modelPackages: {}, serving: {} });

/**
 * The server's resources, persisted to `<directory>/state.json` after every change (small: a handful of
 * resources), so a second start sees the first one's models, endpoints and packages. Written through a
 * temporary file and a rename so a crash never leaves half a file.
 */
export class Store {
  readonly state: StateShape;
  private readonly file: string;

  constructor(readonly directory: string) {
    mkdirSync(directory, { recursive: true });
    this.file = join(directory, 'state.json');
    if (existsSync(this.file)) {
      try {
        this.state = { ...empty(), ...(JSON.parse(readFileSync(this.file, 'utf8')) as Partial<StateShape>) };
      } catch (err) {
        throw new Error(`local SageMaker state ${this.file} is not valid JSON (${(err as Error).message}); delete it to start from scratch`);
      }
    } else {
      this.state = empty();
    }
  }

  save(): void {
    writeFileAtomic(this.file, JSON.stringify(this.state, null, 1));
  }
}
