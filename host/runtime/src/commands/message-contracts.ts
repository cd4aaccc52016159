import { relative } from 'node:path';
import type { ModuleRecord } from '../discovery/plugin-record.js';
import type { PluginRegistry } from '../discovery/registry.js';
import {
  loadMessageSchema,
  messageDeclarations,
  schemaCompatibility,
  type LoadedMessageSchema,
  type ResolvedMessageDeclaration,
} from '../manifest/messages.js';

/** The `messages` part of a `doctor` report. */
export interface MessageContractReport {
  readonly lines: readonly string[];
  /** Consumers whose schema does not accept what a producer of the topic declares (warnings, not problems). */
  readonly warnings: readonly string[];
  /** Declared schemas that cannot be loaded (problems of the manifest). */
  readonly problems: readonly string[];
}

interface Declared extends ResolvedMessageDeclaration {
  readonly record: ModuleRecord;
}

/**
 * Checks the message declarations of the discovered modules (module.json `messages`): for each
 * topic, whether every consumer's schema accepts what each producer of that topic declares.
 * Topics are resolved with the arguments' defaults, and for `focus` (the module doctor is asked
 * about) with the arguments given; a topic that depends on a required argument not given is
 * listed as unresolved. Only pairs involving `focus` are compared when it is set.
 */
export function checkMessageContracts(
  registry: PluginRegistry,
  root: string,
  focus?: { readonly module: string; readonly values: ReadonlyMap<string, unknown> },
): MessageContractReport {
  const declared: Declared[] = [];
  for (const record of registry.modules.values()) {
    if (!record.manifest) continue;
    const values = focus?.module === record.name ? focus.values : undefined;
    for (const declaration of messageDeclarations(record.manifest, values)) declared.push({ ...declaration, record });
  }
  const lines: string[] = [];
  const warnings: string[] = [];
  const problems: string[] = [];
  const schemas = new Map<Declared, LoadedMessageSchema | undefined>();
  const schemaOf = (declaration: Declared): LoadedMessageSchema | undefined => {
    if (schemas.has(declaration)) return schemas.get(declaration);
    let loaded: LoadedMessageSchema | undefined;
    try {
      loaded = loadMessageSchema(declaration.schema, declaration.record.dir);
    } catch (error) {
      problems.push(`module ${declaration.module}: ${(error as Error).message}`);
    }
    schemas.set(declaration, loaded);
    return loaded;
  };
  const involved = (d: Declared): boolean => focus === undefined || d.module === focus.module;
  for (const d of declared.filter(involved)) {
    const schema = schemaOf(d);
    const where = d.topic ?? `${d.written} (set at run time)`;
    lines.push(
      `  ${d.module} ${d.direction} ${where}: ${schema?.label ?? `✗ ${d.schema} unreadable`}${
        schema && schema.id === undefined ? ` (${relative(root, schema.source)})` : ''
      }`,
    );
  }
  for (const consumer of declared.filter((d) => d.direction === 'consumes' && d.topic !== undefined)) {
    for (const producer of declared.filter((d) => d.direction === 'produces' && d.topic === consumer.topic)) {
      if (!involved(consumer) && !involved(producer)) continue;
      const consumerSchema = schemaOf(consumer);
      const producerSchema = schemaOf(producer);
      if (!consumerSchema || !producerSchema) continue;
      const reasons = schemaCompatibility(consumerSchema, producerSchema);
      const pair = `${consumer.module} (${consumerSchema.label}) reading ${consumer.topic ?? ''} from ${producer.module} (${producerSchema.label})`;
      if (reasons.length === 0) {
        lines.push(`  ✓ ${pair}: accepts what the producer declares`);
      } else {
        lines.push(`  ⚠ ${pair}: may refuse what the producer declares:`);
        for (const reason of reasons) lines.push(`      ${reason}`);
        warnings.push(`${consumer.module} may refuse messages ${producer.module} publishes to ${consumer.topic ?? ''}`);
      }
    }
  }
  return { lines, warnings, problems };
}
