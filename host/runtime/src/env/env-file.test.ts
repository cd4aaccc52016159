import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import { parseEnvFile } from './env-file.js';

function parse(text: string): Record<string, string> {
  return Object.fromEntries(parseEnvFile(text, '/run/app.env'));
}

function errorOf(text: string): { code: string; message: string } {
  try {
    parseEnvFile(text, '/run/app.env');
  } catch (error) {
    if (isPlatformError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected the text to be refused');
}

describe('env files (dotenv syntax)', function () {
  it('reads KEY=value lines, skipping blank lines and comments, with an optional export prefix', function () {
    const text =
      '\uFEFF# database\nDB_URL=postgres://db/app\r\n\n  export   REGION = eu-west-1  \n\t# indented comment\nEMPTY=\n';
    expect(parse(text)).to.deep.equal({ DB_URL: 'postgres://db/app', REGION: 'eu-west-1', EMPTY: '' });
  });

  it('ends an unquoted value at a #, as dotenv does (quote a value that contains one)', function () {
    expect(parse('A=abc # note\nB=abc#def\nC=#only-a-comment\nD=a=b=c\nE="abc#def"')).to.deep.equal({
      A: 'abc',
      B: 'abc',
      C: '',
      D: 'a=b=c',
      E: 'abc#def',
    });
  });

  it('keeps single-quoted values literally and expands \\n in double quotes', function () {
    expect(parse(`A='  spaced # not a comment \\n $HOME '\nB="line1\\nline2" # comment`)).to.deep.equal({
      A: '  spaced # not a comment \\n $HOME ',
      B: 'line1\nline2',
    });
  });

  it('reads quoted values that span lines', function () {
    const text = 'KEY="-----BEGIN KEY-----\nabc\n-----END KEY-----"\nSINGLE=\'one\ntwo\'\nNEXT=after';
    expect(parse(text)).to.deep.equal({
      KEY: '-----BEGIN KEY-----\nabc\n-----END KEY-----',
      SINGLE: 'one\ntwo',
      NEXT: 'after',
    });
  });

  it('lets a later line win over an earlier one with the same key', function () {
    expect(parse('A=first\nA=second')).to.deep.equal({ A: 'second' });
  });

  it('refuses a line dotenv would silently skip, with PH_ERR_ENV_FILE_INVALID naming the file and line, not the content', function () {
    const error = errorOf('A=1\n\nsupersecretvalue-without-key\n');
    expect(error.code).to.equal('PH_ERR_ENV_FILE_INVALID');
    expect(error.message).to.equal('/run/app.env:3: line is not KEY=value');
    expect(errorOf('MY KEY=x').message).to.include(':1: line is not KEY=value');
  });

  it('refuses a quote that is never closed, naming the line that opened it', function () {
    const error = errorOf('A=1\nB="hunter2-secret\nC=3\n');
    expect(error.code).to.equal('PH_ERR_ENV_FILE_INVALID');
    expect(error.message).to.include(':2: line opens a quote that is never closed').and.not.include('hunter2');
  });

  it('refuses text after a closing quote', function () {
    const error = errorOf("A='value' trailing-secret");
    expect(error.message).to.include(':1: line has text after the closing quote').and.not.include('trailing-secret');
  });
});
