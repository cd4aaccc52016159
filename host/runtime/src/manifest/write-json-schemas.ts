import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findProjectRoot } from '../project/project-root.js';
import { contractsPackageSchemas, generateJsonSchemas } from './json-schemas.js';

// `npm run schemas`: regenerates schemas/*.json from the zod manifest schemas.
const dir = join(findProjectRoot(), 'schemas');
mkdirSync(dir, { recursive: true });
for (const [file, content] of Object.entries(generateJsonSchemas())) {
  writeFileSync(join(dir, file), content);
  process.stdout.write(`wrote schemas/${file}\n`);
}
// The manifest schemas also ship in the contracts package, where an installed plugin finds them.
const contractsDir = join(findProjectRoot(), 'host', 'contracts', 'schemas');
mkdirSync(contractsDir, { recursive: true });
for (const [file, content] of Object.entries(contractsPackageSchemas())) {
  writeFileSync(join(contractsDir, file), content);
  process.stdout.write(`wrote host/contracts/schemas/${file}\n`);
}
