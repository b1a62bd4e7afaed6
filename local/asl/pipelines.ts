import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnresolvableError } from './cfn-resolver';

/**
 * Finds every RetrainingPipeline of a cloud assembly by the metadata entry the construct writes
 * (`relearn:pipeline`, PIPELINE_METADATA_TYPE in lib/constructs/retraining-pipeline.ts): in manifest.json's stack
 * artifacts, their `additionalMetadataFile`, and nested assemblies (a Stage's stacks). Nothing is guessed from
 * resource shapes: an app's other state machines are never taken for a pipeline.
 */

/** Kept equal to PIPELINE_METADATA_TYPE (local mode does not load the construct library to read an assembly). */
export const PIPELINE_METADATA = 'relearn:pipeline';

export interface AssemblyPipeline {
  /** The (nested) assembly folder whose templates hold the pipeline. */
  readonly outdir: string;
  /** The stack artifact's id in that assembly, and its CloudFormation stack name. */
  readonly artifactId: string;
  readonly stackName: string;
  /** The construct path (`Team/Churn`) and id (`Churn`). */
  readonly path: string;
  readonly id: string;
  /** config.name */
  readonly name: string;
  readonly stateMachineLogicalId: string;
  /** Its rollback state machine (absent in an assembly of a relearn before 0.3.0). */
  readonly rollbackStateMachineLogicalId?: string;
  /** The relearn version that synthesized it. */
  readonly version: string;
}

interface MetadataEntry {
  type: string;
  data?: unknown;
}

interface Artifact {
  type: string;
  displayName?: string;
  properties?: { stackName?: string; directoryName?: string };
  metadata?: Record<string, MetadataEntry[]>;
  additionalMetadataFile?: string;
}

export function findPipelines(outdir: string): AssemblyPipeline[] {
  const manifestPath = join(outdir, 'manifest.json');
  if (!existsSync(manifestPath)) throw new UnresolvableError(`${manifestPath} not found: is ${outdir} a cloud assembly (cdk.out)?`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { artifacts?: Record<string, Artifact> };
  const found: AssemblyPipeline[] = [];
  for (const [artifactId, artifact] of Object.entries(manifest.artifacts ?? {})) {
    if (artifact.type === 'cdk:cloud-assembly' && artifact.properties?.directoryName) {
      found.push(...findPipelines(join(outdir, artifact.properties.directoryName)));
      continue;
    }
    if (artifact.type !== 'aws:cloudformation:stack') continue;
    const metadata: Record<string, MetadataEntry[]> = { ...(artifact.metadata ?? {}) };
    if (artifact.additionalMetadataFile && existsSync(join(outdir, artifact.additionalMetadataFile))) {
      const extra = JSON.parse(readFileSync(join(outdir, artifact.additionalMetadataFile), 'utf8')) as Record<string, MetadataEntry[]>;
      for (const [path, entries] of Object.entries(extra)) metadata[path] = [...(metadata[path] ?? []), ...entries];
    }
    for (const [path, entries] of Object.entries(metadata)) {
      for (const entry of entries) {
        if (entry.type !== PIPELINE_METADATA) continue;
        const data = entry.data as Partial<Record<'id' | 'name' | 'stateMachineLogicalId' | 'rollbackStateMachineLogicalId' | 'version', unknown>> | undefined;
        if (typeof data?.name !== 'string' || typeof data.stateMachineLogicalId !== 'string') {
          throw new UnresolvableError(`${outdir}: the ${PIPELINE_METADATA} metadata of ${path} is not what relearn writes (${JSON.stringify(entry.data)})`);
        }
        const constructPath = path.replace(/^\//, '');
        found.push({
          outdir,
          artifactId,
          stackName: artifact.properties?.stackName ?? artifact.displayName ?? artifactId,
          path: constructPath,
          id: typeof data.id === 'string' ? data.id : constructPath.split('/').pop()!,
          name: data.name,
          stateMachineLogicalId: data.stateMachineLogicalId,
          ...(typeof data.rollbackStateMachineLogicalId === 'string' ? { rollbackStateMachineLogicalId: data.rollbackStateMachineLogicalId } : {}),
          version: typeof data.version === 'string' ? data.version : 'unknown',
        });
      }
    }
  }
  return found.sort((a, b) => a.path.localeCompare(b.path));
}

/** `--pipeline` names a pipeline by its construct id, its path or its config name. */
export function choosePipeline(pipelines: readonly AssemblyPipeline[], wanted: string | undefined, where: string): AssemblyPipeline {
  const list = pipelines.map((p) => `${p.path} (name ${p.name})`).join(', ');
  if (pipelines.length === 0) {
    throw new UnresolvableError(`${where} has no RetrainingPipeline: expected the app to add one (new RetrainingPipeline(stack, 'Id', {...}) from 'relearn')`);
  }
  if (wanted === undefined) {
    if (pipelines.length === 1) return pipelines[0];
    throw new UnresolvableError(`${where} has ${pipelines.length} pipelines (${list}): say which one with --pipeline <id|path|name>`);
  }
  const bare = wanted.replace(/^\//, '');
  for (const matches of [(p: AssemblyPipeline) => p.path === bare, (p: AssemblyPipeline) => p.id === bare, (p: AssemblyPipeline) => p.name === bare]) {
    const hits = pipelines.filter(matches);
    if (hits.length === 1) return hits[0];
    if (hits.length > 1) throw new UnresolvableError(`--pipeline ${wanted} matches ${hits.length} pipelines (${hits.map((p) => p.path).join(', ')}): give its path`);
  }
  throw new UnresolvableError(`--pipeline ${wanted}: expected the id, path or name of a pipeline of ${where}, but it has ${list}`);
}
