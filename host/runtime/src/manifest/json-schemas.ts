import { z } from 'zod';
import { adapterManifestSchema, moduleManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { PLATFORM_MESSAGE_SCHEMAS } from '@platform-host/contracts/message-schemas';

/** The JSON Schema of a zod schema as written under `schemas/` (input shape, with `$id` and title). */
export function jsonSchemaOf(
  schema: z.ZodType,
  id: string,
  title: string,
  extra: Record<string, unknown> = {},
): object {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  return { ...json, $id: id, title, ...extra };
}

/** The JSON Schema files under `schemas/`, generated from the zod schemas (file name -> content). */
export function generateJsonSchemas(): Record<string, string> {
  const render = (schema: z.ZodType, id: string, title: string, extra?: Record<string, unknown>): string =>
    `${JSON.stringify(jsonSchemaOf(schema, id, title, extra), null, 2)}\n`;
  const files: Record<string, string> = {
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
  for (const message of Object.values(PLATFORM_MESSAGE_SCHEMAS)) {
    files[message.file] = render(message.schema, `https://platform-host.dev/schemas/${message.file}`, message.title, {
      'x-platform-schema-version': message.version,
    });
  }
  return files;
}
