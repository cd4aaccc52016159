import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { contractsPackageSchemas, generateJsonSchemas } from './json-schemas.js';

const schemasDir = fileURLToPath(new URL('../../../../schemas/', import.meta.url));
const contractsSchemasDir = fileURLToPath(new URL('../../../contracts/schemas/', import.meta.url));

describe('committed JSON Schemas', () => {
  for (const [file, generated] of Object.entries(generateJsonSchemas())) {
    it(`schemas/${file} matches the zod schema it is generated from (run \`npm run schemas\` when this fails)`, () => {
      expect(readFileSync(join(schemasDir, file), 'utf8')).to.equal(generated);
    });
  }

  for (const [file, generated] of Object.entries(contractsPackageSchemas())) {
    it(`host/contracts/schemas/${file}, the copy installed plugins resolve, matches too (\`npm run schemas\`)`, () => {
      expect(readFileSync(join(contractsSchemasDir, file), 'utf8')).to.equal(generated);
    });
  }

  it('keeps strict objects strict: unknown manifest keys are refused by the JSON Schema too', () => {
    const schema = JSON.parse(generateJsonSchemas()['module.schema.json'] ?? '{}') as {
      additionalProperties?: unknown;
    };
    expect(schema.additionalProperties).to.equal(false);
  });
});
