import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { composeServices, publishedPorts } from './compose-model.js';
import { parseDockerfile } from './dockerfile-model.js';
import { parseJsonc, stripJsonc } from './jsonc.js';
import { arrayOf, at, recordOf, stringOf, stringsOf } from './plain-data.js';
import { readYaml, repoPath } from './repo-facts.js';

const DEVCONTAINER_DIR = repoPath('.devcontainer');
const DEVCONTAINER_JSON = join(DEVCONTAINER_DIR, 'devcontainer.json');

describe('.devcontainer', () => {
  const config = recordOf(parseJsonc(readFileSync(DEVCONTAINER_JSON, 'utf8'), DEVCONTAINER_JSON));

  it('builds from a Dockerfile beside it, on a Node 24 image', () => {
    const dockerfile = join(DEVCONTAINER_DIR, stringOf(at(config, 'build.dockerfile')) ?? '');
    expect(existsSync(dockerfile), dockerfile).to.equal(true);
    const context = stringOf(at(config, 'build.context'));
    if (context !== undefined) expect(existsSync(join(DEVCONTAINER_DIR, context))).to.equal(true);
    const stages = parseDockerfile(readFileSync(dockerfile, 'utf8')).stages;
    expect(stages.at(-1)?.image).to.match(/(node|typescript-node|javascript-node):(\d+-)?24\b/);
  });

  it('runs Docker inside the container for the compose stack and testcontainers', () => {
    expect(
      Object.keys(recordOf(config.features)).some((feature) =>
        feature.startsWith('ghcr.io/devcontainers/features/docker-in-docker:'),
      ),
    ).to.equal(true);
  });

  it('forwards every port the compose stack publishes', () => {
    const forwarded = arrayOf(config.forwardPorts).map(Number);
    const services = composeServices(readYaml(repoPath('deploy', 'docker', 'docker-compose.yml')));
    const published = [...services.values()].flatMap((service) => publishedPorts(service).map((port) => port.host));
    expect(published.length).to.be.greaterThan(0);
    expect(forwarded).to.include.members(published);
    for (const port of forwarded)
      expect(recordOf(config.portsAttributes)[String(port)], `label of port ${port}`).to.not.equal(undefined);
  });

  it('runs make setup after creation, a target the Makefile has', () => {
    expect(config.postCreateCommand).to.equal('make setup');
    expect(readFileSync(repoPath('Makefile'), 'utf8')).to.match(/^setup:/m);
  });

  it('installs the VS Code extensions for ESLint, Prettier and Docker, and uses the project TypeScript', () => {
    const extensions = stringsOf(at(config, 'customizations.vscode.extensions'));
    expect(extensions).to.include.members([
      'dbaeumer.vscode-eslint',
      'esbenp.prettier-vscode',
      'ms-azuretools.vscode-docker',
    ]);
    const tsdk = stringOf(recordOf(at(config, 'customizations.vscode.settings'))['typescript.tsdk']);
    expect(tsdk).to.equal('node_modules/typescript/lib');
    expect(existsSync(repoPath(tsdk ?? '', 'typescript.js')), 'the project installs TypeScript there').to.equal(true);
  });

  it('works as the non-root node user', () => {
    expect(config.remoteUser).to.equal('node');
  });

  describe('JSONC reading', () => {
    it('keeps // inside strings, drops comments and trailing commas', () => {
      const text = '{\n  // comment\n  "url": "http://localhost:3000", /* block */\n  "list": [1, 2,],\n}\n';
      expect(JSON.parse(stripJsonc(text))).to.deep.equal({ url: 'http://localhost:3000', list: [1, 2] });
    });

    it('names the file when the content is not JSON', () => {
      expect(() => parseJsonc('{ "a": }', 'broken.json')).to.throw('broken.json is not valid JSON with comments');
    });
  });
});
