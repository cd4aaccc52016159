import { expect } from 'chai';
import { validateManifest } from './validate-manifest.js';

function moduleWith(args: unknown[]): unknown {
  return {
    name: 'checked',
    display_name: 'Checked',
    description: 'A module whose arguments carry rules.',
    type: 'job',
    version: '1.0.0',
    host_api: '^2.0.0',
    entry: './dist/index.js',
    dependencies: { interfaces: ['logging'], modules: [] },
    args,
  };
}

describe('manifest validation of argument rules', () => {
  it('refuses rules that cannot hold: min above max, a range on a string, a pattern that is no regex, a default outside the range', () => {
    const { problems } = validateManifest(
      'module',
      moduleWith([
        { name: 'a', description: 'a', type: 'integer', min: 5, max: 1 },
        { name: 'b', description: 'b', type: 'string', min: 1 },
        { name: 'c', description: 'c', type: 'string', pattern: '([a-z' },
        { name: 'd', description: 'd', type: 'integer', min: 1, default: 0 },
        { name: 'e', description: 'e', type: 'integer', pattern: '\\d+' },
      ]),
    );
    expect(problems).to.have.length(5);
    expect(problems.join('\n'))
      .to.contain('args[0].max: max must not be below min')
      .and.contain('args[1].min: only an integer or float argument can have min or max')
      .and.contain('args[2].pattern: not a valid regular expression')
      .and.contain('args[3].default: default must be within min and max')
      .and.contain('args[4].pattern: only a string argument can have a pattern');
  });

  it('accepts consistent rules', () => {
    const { problems } = validateManifest(
      'module',
      moduleWith([
        { name: 'size', description: 's', type: 'integer', min: 1, max: 10, default: 5 },
        { name: 'table', description: 't', type: 'string', pattern: '[a-z_]+', default: 'events' },
      ]),
    );
    expect(problems).to.deep.equal([]);
  });
});
