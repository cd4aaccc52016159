import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { expect } from 'chai';
import {
  CLI_ENTRY,
  execForm,
  parseDockerfile,
  productionDockerfileProblems,
  splitOptions,
  type Dockerfile,
  type Instruction,
} from './dockerfile-model.js';
import { configKeyFacts, environmentProblems, globalFlags, repoPath, type ConfigKeyFacts } from './repo-facts.js';

const DOCKERFILE = repoPath('deploy', 'docker', 'Dockerfile');

/** `.dockerignore` semantics: patterns in order, `!` re-includes, a matched folder excludes its contents. */
function dockerignoreExcludes(patterns: readonly string[], path: string): boolean {
  const toRegExp = (pattern: string): RegExp => {
    let source = '';
    for (let index = 0; index < pattern.length; index += 1) {
      const char = pattern[index] ?? '';
      if (char === '*' && pattern[index + 1] === '*') {
        source += '.*';
        index += pattern[index + 2] === '/' ? 2 : 1;
        if (pattern[index] === '/') source += '/?';
      } else if (char === '*') source += '[^/]*';
      else if (char === '?') source += '[^/]';
      else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    return new RegExp(`^${source}$`);
  };
  const segments = path.split('/');
  const candidates = segments.map((_, index) => segments.slice(0, index + 1).join('/'));
  let excluded = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = posix.normalize((negated ? raw.slice(1) : raw).replace(/^\/+/, ''));
    if (candidates.some((candidate) => toRegExp(pattern).test(candidate))) excluded = !negated;
  }
  return excluded;
}

function dockerignorePatterns(): string[] {
  return readFileSync(repoPath('.dockerignore'), 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

function finalStageInstructions(dockerfile: Dockerfile, keyword: string): Instruction[] {
  return (dockerfile.stages.at(-1)?.instructions ?? []).filter((instruction) => instruction.keyword === keyword);
}

/** KEY=value pairs of ENV instructions (`ENV A=1 B=2`). */
function envOf(instructions: readonly Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const instruction of instructions) {
    for (const match of instruction.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) {
      if (match[1] !== undefined && match[2] !== undefined) env[match[1]] = match[2].replace(/^"|"$/g, '');
    }
  }
  return env;
}

describe('deploy/docker/Dockerfile', () => {
  const text = readFileSync(DOCKERFILE, 'utf8');
  const dockerfile = parseDockerfile(text);
  let facts: ConfigKeyFacts;

  before(async () => {
    facts = await configKeyFacts();
  });

  it('follows the production image rules: multi-stage on node:24-slim, npm ci --omit=dev, non-root USER, exec-form ENTRYPOINT, HEALTHCHECK', () => {
    expect(productionDockerfileProblems(text)).to.deep.equal([]);
  });

  it('runs the CLI as the entrypoint, so "docker run <image> run batch_etl --date ..." reaches platform-host run', () => {
    const entrypoint = execForm(finalStageInstructions(dockerfile, 'ENTRYPOINT').at(-1)?.args ?? '');
    expect(entrypoint?.at(-1)).to.match(new RegExp(`${CLI_ENTRY.replace(/[.]/g, '\\.')}$`));
    const cmd = execForm(finalStageInstructions(dockerfile, 'CMD').at(-1)?.args ?? '');
    expect(cmd).to.deep.equal(['plugins', 'list']);
  });

  it('installs tini in the runtime stage when the entrypoint starts with it', () => {
    const entrypoint = execForm(finalStageInstructions(dockerfile, 'ENTRYPOINT').at(-1)?.args ?? '') ?? [];
    if (!(entrypoint[0] ?? '').endsWith('tini')) return;
    expect(entrypoint[0]).to.equal('/usr/bin/tini');
    expect(
      finalStageInstructions(dockerfile, 'RUN').some((run) => /apt-get install[^&]*\btini\b/.test(run.args)),
    ).to.equal(true);
  });

  it('has a HEALTHCHECK script that exists in the repository and is copied into the image', () => {
    const healthcheck = finalStageInstructions(dockerfile, 'HEALTHCHECK').at(-1);
    const command = execForm(splitOptions(healthcheck?.args ?? '').rest.replace(/^CMD\s+/, '')) ?? [];
    const script = command.find((arg) => arg.endsWith('.mjs')) ?? '';
    const workdir = finalStageInstructions(dockerfile, 'WORKDIR').at(-1)?.args ?? '/';
    const relative = posix.relative(workdir, posix.resolve(workdir, script));
    expect(existsSync(repoPath(relative)), `${relative} exists`).to.equal(true);
    const copiedInBuild = dockerfile.stages.some((stage) =>
      stage.instructions.some((instruction) => instruction.keyword === 'RUN' && instruction.args.includes(relative)),
    );
    expect(copiedInBuild, `a build stage copies ${relative}`).to.equal(true);
  });

  it('copies from the build context only files that exist and that .dockerignore lets through', () => {
    const patterns = dockerignorePatterns();
    const sources = dockerfile.stages.flatMap((stage) =>
      stage.instructions
        .filter((instruction) => instruction.keyword === 'COPY' && !splitOptions(instruction.args).options.has('from'))
        .flatMap((instruction) => {
          const parts = splitOptions(instruction.args).rest.split(/\s+/);
          return parts.slice(0, -1);
        }),
    );
    expect(sources.length).to.be.greaterThan(0);
    for (const source of sources.filter((path) => path !== '.')) {
      expect(existsSync(repoPath(source)), `${source} exists`).to.equal(true);
      expect(dockerignoreExcludes(patterns, source), `${source} is not excluded by .dockerignore`).to.equal(false);
    }
  });

  it('keeps build output, dependencies and env files out of the build context', () => {
    const patterns = dockerignorePatterns();
    for (const path of [
      'node_modules/yaml/package.json',
      'host/runtime/dist/cli/main.js',
      'host/runtime/tsconfig.tsbuildinfo',
      'adapters/postgres/node_modules/x',
      'env/staging.env',
      '.git/HEAD',
      '.data/lake/raw/a.jsonl',
    ]) {
      expect(dockerignoreExcludes(patterns, path), `${path} is excluded`).to.equal(true);
    }
    for (const path of [
      'host/runtime/src/cli/main.ts',
      'package-lock.json',
      'migrations/src/001_create_migrations_table.ts',
      'deploy/docker/healthcheck.mjs',
    ]) {
      expect(dockerignoreExcludes(patterns, path), `${path} is kept`).to.equal(false);
    }
  });

  it('sets only environment keys the host or its adapters read, for production', () => {
    const env = envOf(finalStageInstructions(dockerfile, 'ENV'));
    const { NODE_ENV: nodeEnv, ...platformEnv } = env;
    expect(nodeEnv).to.equal('production');
    expect(environmentProblems('Dockerfile ENV', platformEnv, facts)).to.deep.equal([]);
    expect(platformEnv.PLATFORM_ENV).to.equal('production');
    expect(platformEnv.PLATFORM_ROOT).to.equal(finalStageInstructions(dockerfile, 'WORKDIR').at(-1)?.args);
  });

  it('exposes the default health port of the host', async () => {
    const healthPort = (await globalFlags()).find((flag) => flag.name === 'health-port')?.default;
    expect(finalStageInstructions(dockerfile, 'EXPOSE').map((instruction) => instruction.args)).to.deep.equal([
      String(healthPort),
    ]);
  });

  describe('rules that catch a broken Dockerfile', () => {
    const broken = (from: string | RegExp, to: string): string[] => {
      const mutated = text.replace(from, to);
      expect(mutated, `the mutation of ${String(from)} applies`).to.not.equal(text);
      return productionDockerfileProblems(mutated);
    };

    it('refuses a shell-form ENTRYPOINT', () => {
      expect(
        broken(/^ENTRYPOINT .*$/m, 'ENTRYPOINT node /app/host/runtime/bin/platform-host.js').join('\n'),
      ).to.contain('shell form');
    });

    it('refuses an image that runs as root', () => {
      expect(broken(/^USER node$/m, 'USER root').join('\n')).to.contain('runs as USER root');
      expect(broken(/^USER node$/m, '').join('\n')).to.contain('sets no USER');
    });

    it('refuses runtime dependencies installed with dev dependencies', () => {
      expect(broken(/npm ci --omit=dev/, 'npm ci').join('\n')).to.contain('--omit=dev');
    });

    it('refuses a base image other than node:24-slim', () => {
      expect(broken(/^ARG NODE_IMAGE=.*$/m, 'ARG NODE_IMAGE=node:22').join('\n')).to.contain('expected node:24-slim');
    });

    it('refuses a final stage without HEALTHCHECK', () => {
      expect(broken(/^HEALTHCHECK [^\n]*\\\n[^\n]*$/m, '').join('\n')).to.contain('no HEALTHCHECK');
    });

    it('refuses a single-stage build', () => {
      expect(
        productionDockerfileProblems(
          'FROM node:24-slim\nUSER node\nENTRYPOINT ["node", "host/runtime/bin/platform-host.js"]\n',
        ).join('\n'),
      ).to.contain('multi-stage');
    });
  });
});
