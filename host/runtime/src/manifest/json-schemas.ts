import { z } from 'zod';
import { adapterManifestSchema, moduleManifestSchema } from '@platform-host/contracts/manifest-schemas';

/** The JSON Schema files under `schemas/`, generated from the zod schemas (file name -> content). */
export function generateJsonSchemas(): Record<string, string> {
  const render = (schema: z.ZodType, id: string, title: string): string => {
    const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
    return `${JSON.stringify({ ...json, $id: id, title }, null, 2)}\n`;
  };
  return {
    'module.schema.json': render(
      moduleManifestSchema,
      'https://platform-host.dev/schemas/module.schema.json',
      'platform-host module manifest (module.json)',
    ),
    'adapter.schema.json': render(
      adapterManifestSchema,
      'https://platform-host.dev/schemas/adapter.schema.json',
      'platform-host adapter manifest (platform-adapter.json)',
    ),
  };
}
