import { z } from 'zod';
import { adapterManifestSchema, moduleManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { PLATFORM_MESSAGE_SCHEMAS } from '@platform-host/contracts/message-schemas';
import { MANIFEST_SCHEMA_FILES, MANIFEST_SCHEMA_IDS } from '@platform-host/contracts';

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
    [MANIFEST_SCHEMA_FILES.module]: render(
      moduleManifestSchema,
      MANIFEST_SCHEMA_IDS.module,
      'platform-host module manifest (module.json)',
    ),
    [MANIFEST_SCHEMA_FILES.adapter]: render(
      adapterManifestSchema,
      MANIFEST_SCHEMA_IDS.adapter,
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

/**
 * The manifest schemas shipped in the contracts package (`host/contracts/schemas/`), the files a
 * manifest's `$schema` id stands for in an installed project (file name -> content).
 */
export function contractsPackageSchemas(): Record<string, string> {
  const all = generateJsonSchemas();
  return Object.fromEntries(Object.values(MANIFEST_SCHEMA_FILES).map((file) => [file, all[file] ?? '']));
}
