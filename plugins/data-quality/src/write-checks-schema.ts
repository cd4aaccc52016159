import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checksJsonSchema } from './checks-schema.js';

// `npm run schemas`: regenerates schemas/data-quality-checks.schema.json from the zod schema.
const target = fileURLToPath(new URL('../../../schemas/data-quality-checks.schema.json', import.meta.url));
writeFileSync(target, checksJsonSchema());
process.stdout.write('wrote schemas/data-quality-checks.schema.json\n');
