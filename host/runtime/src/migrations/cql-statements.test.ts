import { expect } from 'chai';
import { splitCqlStatements } from './cql-statements.js';

describe('splitCqlStatements', function () {
  it('splits on ; and drops blank and comment-only pieces', function () {
    const text = `-- heading
CREATE TABLE a (id int PRIMARY KEY);

CREATE INDEX a_idx ON a (id) USING 'sai';  -- trailing
/* only a comment */;
`;
    expect(splitCqlStatements(text)).to.deep.equal([
      '-- heading\nCREATE TABLE a (id int PRIMARY KEY)',
      "CREATE INDEX a_idx ON a (id) USING 'sai'",
    ]);
  });

  it('keeps a ; inside string literals, quoted identifiers, $$ strings and comments', function () {
    const text = `INSERT INTO t (k, v) VALUES ('a;b', 'it''s; fine');
SELECT "odd;name" FROM t; // a ; in a comment
CREATE FUNCTION f(x int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS $$ return x; $$;
/* a ; in a block comment */ DROP TABLE t`;
    expect(splitCqlStatements(text)).to.deep.equal([
      "INSERT INTO t (k, v) VALUES ('a;b', 'it''s; fine')",
      'SELECT "odd;name" FROM t',
      '// a ; in a comment\nCREATE FUNCTION f(x int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS $$ return x; $$',
      '/* a ; in a block comment */ DROP TABLE t',
    ]);
  });

  it('keeps BEGIN BATCH ... APPLY BATCH as one statement', function () {
    const text = `BEGIN UNLOGGED BATCH
  INSERT INTO t (k) VALUES (1);
  INSERT INTO t (k) VALUES (2);
APPLY BATCH;
SELECT k FROM t;`;
    expect(splitCqlStatements(text)).to.deep.equal([
      'BEGIN UNLOGGED BATCH\n  INSERT INTO t (k) VALUES (1);\n  INSERT INTO t (k) VALUES (2);\nAPPLY BATCH',
      'SELECT k FROM t',
    ]);
  });

  it('returns nothing for a file of comments only', function () {
    expect(splitCqlStatements('-- nothing here\n/* or here */\n')).to.deep.equal([]);
  });
});
