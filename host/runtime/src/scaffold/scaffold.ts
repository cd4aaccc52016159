import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  HOST_API_VERSION,
  isInterfaceName,
  MANIFEST_SCHEMA_IDS,
  PlatformError,
  REFS,
  type ModuleType,
} from '@platform-host/contracts';
import { interfaceTemplate } from './adapter-templates.js';

const HOST_RANGE = `^${HOST_API_VERSION.split('.')[0] ?? '1'}.0.0`;

function writeFiles(root: string, dir: string, files: Record<string, string>): string {
  if (existsSync(dir))
    throw new PlatformError('PH_ERR_USAGE', `${relative(root, dir)} already exists; choose another name or remove it`);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  addProjectReference(root, relative(root, dir));
  return Object.keys(files)
    .map((path) => `  ${relative(root, join(dir, path))}`)
    .join('\n');
}

/** Adds the new workspace to the root tsconfig's references so `npm run build` compiles it. */
function addProjectReference(root: string, path: string): void {
  const file = join(root, 'tsconfig.json');
  if (!existsSync(file)) return;
  const config = JSON.parse(readFileSync(file, 'utf8')) as { references?: Array<{ path: string }> };
  config.references ??= [];
  if (!config.references.some((ref) => ref.path === path)) config.references.push({ path });
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
}

function packageJson(name: string, description: string): string {
  return `${JSON.stringify(
    {
      name,
      version: '0.1.0',
      description,
      type: 'module',
      private: true,
      engines: { node: '>=22.22' },
      main: './dist/index.js',
      types: './dist/index.d.ts',
      exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' }, './package.json': './package.json' },
      dependencies: { '@platform-host/contracts': '1.0.0' },
    },
    null,
    2,
  )}\n`;
}

function tsconfig(references: string[]): string {
  return `${JSON.stringify(
    {
      extends: '../../tsconfig.base.json',
      compilerOptions: { rootDir: 'src', outDir: 'dist', types: ['node', 'mocha'] },
      include: ['src'],
      references: references.map((path) => ({ path })),
    },
    null,
    2,
  )}\n`;
}

/** `new module <name> --type job|service|worker` (seed 16.2): a working module with a passing test. */
export function scaffoldModule(root: string, rawName: string, type: ModuleType): string {
  const name = rawName.trim().toLowerCase().replace(/-/g, '_');
  if (!/^[a-z][a-z0-9_]*$/.test(name)) {
    throw new PlatformError(
      'PH_ERR_USAGE',
      `Module name "${rawName}" must start with a letter and contain only letters, digits and _`,
    );
  }
  const folder = name.replace(/_/g, '-');
  const dir = join(root, 'plugins', folder);
  const isJob = type === 'job';
  const manifest = {
    $schema: MANIFEST_SCHEMA_IDS.module,
    name,
    display_name: name
      .split('_')
      .map((w) => w[0]?.toUpperCase() + w.slice(1))
      .join(' '),
    description: `TODO: say what ${name} does, for \`platform-host run ${name} --help\`.`,
    type,
    version: '0.1.0',
    host_api: HOST_RANGE,
    entry: './dist/index.js',
    dependencies: { interfaces: ['logging'], modules: [] },
    args: [
      {
        name: 'greeting',
        description: 'Text to log when the module starts.',
        required: false,
        type: 'string',
        default: 'hello',
      },
    ],
  };
  const entry = `import { defineModule } from '@platform-host/contracts';

/** ${name}: ${type}. Declare more interfaces in module.json and here to receive them in ctx. */
export default defineModule({
  interfaces: ['logging'],
  async run(ctx) {
    ctx.log.info(ctx.config.string('greeting'), { module: ctx.module.name });
${
  isJob
    ? '    return 0;'
    : `    // A ${type} runs until shutdown begins; the host then waits for run() to resolve (drain).
    await new Promise<void>((resolve) => {
      if (ctx.lifecycle.signal.aborted) resolve();
      ctx.lifecycle.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    return 0;`
}
  },
});
`;
  const test = `import { expect } from 'chai';
import { runModuleForTest } from '@platform-host/test-kit';
import { fileURLToPath } from 'node:url';

const moduleDir = fileURLToPath(new URL('../', import.meta.url));

describe('${name}', () => {
  it('${isJob ? 'runs to completion and exits 0' : 'stops cleanly when shutdown begins'}', async () => {
    const result = await runModuleForTest({ moduleDir, args: ['--greeting', 'hi from the test']${isJob ? '' : ', stopAfterStart: true'} });
    expect(result.exitCode).to.equal(0);
    expect(result.logs.some((line) => line.includes('hi from the test'))).to.equal(true);
  });
});
`;
  const listed = writeFiles(root, dir, {
    'package.json': packageJson(`@platform-host/module-${folder}`, `${name}: a platform-host ${type}.`),
    'tsconfig.json': tsconfig(['../../host/contracts', '../../host/test-kit']),
    'module.json': `${JSON.stringify(manifest, null, 2)}\n`,
    'src/index.ts': entry,
    'src/index.test.ts': test,
  });
  return `created module ${name} (${type}):\n${listed}\nnext: npm install && npm run build && platform-host run ${name} --help\n`;
}

/** `new adapter <interface> <flag>`: an adapter workspace with manifest, entry and a passing test. */
export function scaffoldAdapter(root: string, rawInterface: string, rawFlag: string): string {
  const iface = rawInterface.trim().toLowerCase().replace(/-/g, '_');
  if (!isInterfaceName(iface)) {
    throw new PlatformError(
      'PH_ERR_USAGE',
      `"${rawInterface}" is not an interface; use one of ${Object.keys(REFS).join(', ')}`,
    );
  }
  const flag = rawFlag.trim().toLowerCase();
  if (!/^[a-z][a-z0-9-]*$/.test(flag)) throw new PlatformError('PH_ERR_USAGE', `Flag "${rawFlag}" must be kebab-case`);
  const folder = `${REFS[iface].flag}-${flag}`;
  const dir = join(root, 'adapters', folder);
  const template = interfaceTemplate(iface, flag);
  const manifest = {
    $schema: MANIFEST_SCHEMA_IDS.adapter,
    name: folder,
    version: '0.1.0',
    description: `TODO: the ${flag} backend of the ${iface} interface.`,
    interface: iface,
    flags: [flag],
    host_api: HOST_RANGE,
    entry: './dist/index.js',
    config: [],
    ...(iface === 'database' ? { dialect: 'postgresql' } : {}),
  };
  const listed = writeFiles(root, dir, {
    'package.json': packageJson(`@platform-host/adapter-${folder}`, `${iface} adapter: --${REFS[iface].flag} ${flag}.`),
    'tsconfig.json': tsconfig(['../../host/contracts', '../../host/test-kit']),
    'platform-adapter.json': `${JSON.stringify(manifest, null, 2)}\n`,
    'src/index.ts': template.entry,
    'src/index.test.ts': template.test,
  });
  return `created adapter ${folder} (--${REFS[iface].flag} ${flag}):\n${listed}\nnext: implement it, then npm run build && platform-host plugins list\n`;
}
