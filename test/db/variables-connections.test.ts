import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { expect } from 'chai';
import {
  ConnectionExistsError,
  deleteConnection,
  getConnectionRow,
  insertConnection,
  listConnectionRows,
} from '../../db/connection.repository.js';
import { appliedMigrations, migrateDown, migrateToLatest } from '../../db/migrate.js';
import {
  deleteVariable,
  getVariableRow,
  getVariableRows,
  listVariableRows,
  upsertVariable,
} from '../../db/variable.repository.js';
import { FERNET_KEY_ENV, SecretCipher, SecretDecryptError, SecretKeyError } from '../../secrets/encryption.js';
import {
  SecretInputError,
  addConnection,
  getConnection,
  getVariable,
  listConnections,
  listVariables,
  setVariable,
} from '../../secrets/store.js';
import { createTestDatabase, tempDir } from '../helpers/servers.js';
import { DIALECTS, openMigratedDatabase, rejectionOf, type TestDatabase } from './test-database.js';

const newKey = (): string => randomBytes(32).toString('base64');
const HINT = `generate one with: node -e "console.log(crypto.randomBytes(32).toString('base64'))"`;

describe('secrets: the cipher (AES-256-GCM, UPDRAFT_FERNET_KEY)', function () {
  it('round-trips text, with a fresh IV each time', function () {
    const c = SecretCipher.fromKeyList(newKey());
    const a = c.encrypt('naïve ☃ secret', 'variable:x');
    const b = c.encrypt('naïve ☃ secret', 'variable:x');
    expect(a).to.match(/^v1:[A-Za-z0-9+/]+=*$/);
    expect(a).to.not.equal(b);
    expect(c.decrypt(a, 'variable:x', 'variable "x"')).to.equal('naïve ☃ secret');
    expect(c.decrypt(c.encrypt('', 'v'), 'v', 'v')).to.equal('');
  });

  it('fails clearly with the wrong key, another row, or an altered value', function () {
    const c = SecretCipher.fromKeyList(newKey());
    const token = c.encrypt('s', 'variable:x');
    const wrong =
      'cannot decrypt variable "x": UPDRAFT_FERNET_KEY does not hold the key it was encrypted with (or the stored value was altered)';
    expect(() => SecretCipher.fromKeyList(newKey()).decrypt(token, 'variable:x', 'variable "x"')).to.throw(
      SecretDecryptError,
      wrong,
    );
    expect(() => c.decrypt(token, 'variable:y', 'variable "x"')).to.throw(SecretDecryptError, wrong);
    const altered = `v1:${Buffer.from(Buffer.from(token.slice(3), 'base64').map((b, i) => (i === 14 ? b ^ 1 : b))).toString('base64')}`;
    expect(() => c.decrypt(altered, 'variable:x', 'variable "x"')).to.throw(SecretDecryptError, wrong);
    expect(() => c.decrypt('plain', 'variable:x', 'variable "x"')).to.throw(
      'variable "x" is not an encrypted value this version understands',
    );
    expect(() => c.decrypt('v1:AAAA', 'variable:x', 'variable "x"')).to.throw(
      'variable "x": the stored value is truncated',
    );
  });

  it('rotates keys: the first encrypts, any decrypts', function () {
    const [oldKey, freshKey] = [newKey(), newKey()];
    const old = SecretCipher.fromKeyList(oldKey).encrypt('s', 'a');
    const rotated = SecretCipher.fromKeyList(`${freshKey}, ${oldKey}`);
    expect(rotated.decrypt(old, 'a', 'a')).to.equal('s');
    const fresh = rotated.encrypt('t', 'a');
    expect(SecretCipher.fromKeyList(freshKey).decrypt(fresh, 'a', 'a')).to.equal('t');
    expect(() => SecretCipher.fromKeyList(oldKey).decrypt(fresh, 'a', 'a')).to.throw(SecretDecryptError);
  });

  it('reads the key from the environment and rejects malformed keys, saying how to make one', function () {
    expect(SecretCipher.fromEnv({})).to.equal(null);
    expect(SecretCipher.fromEnv({ [FERNET_KEY_ENV]: '  ' })).to.equal(null);
    expect(SecretCipher.fromEnv({ [FERNET_KEY_ENV]: newKey() })).to.be.instanceOf(SecretCipher);
    expect(SecretCipher.fromEnv({ [FERNET_KEY_ENV]: randomBytes(32).toString('base64url') })).to.be.instanceOf(
      SecretCipher,
    );
    expect(() => SecretCipher.fromEnv({ [FERNET_KEY_ENV]: 'short' })).to.throw(
      SecretKeyError,
      `UPDRAFT_FERNET_KEY must be 32 random bytes in base64 (44 characters); ${HINT}`,
    );
    expect(() => SecretCipher.fromKeyList(`${newKey()},${randomBytes(16).toString('base64')}`)).to.throw(
      SecretKeyError,
      `UPDRAFT_FERNET_KEY (key 2) must be 32 random bytes in base64 (44 characters); ${HINT}`,
    );
    expect(() => SecretCipher.fromKeyList(',')).to.throw(SecretKeyError, `UPDRAFT_FERNET_KEY is empty; ${HINT}`);
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialect}: variables and connections`, function () {
    let t: TestDatabase;
    const cipher = SecretCipher.fromKeyList(newKey());
    const savedKey = process.env[FERNET_KEY_ENV];

    before(async function () {
      t = await openMigratedDatabase(dialect);
    });
    after(async function () {
      await t?.cleanup();
      if (savedKey === undefined) delete process.env[FERNET_KEY_ENV];
      else process.env[FERNET_KEY_ENV] = savedKey;
    });

    it('variable repository: upsert, get, list, delete', async function () {
      await upsertVariable(t.db, { key: 'b', val: 'one', description: 'first' });
      await upsertVariable(t.db, { key: 'a', val: 'x', is_encrypted: false });
      await upsertVariable(t.db, { key: 'b', val: 'two', is_encrypted: true, description: null });
      expect(await getVariableRow(t.db, 'b')).to.deep.equal({
        key: 'b',
        val: 'two',
        is_encrypted: true,
        description: null,
      });
      expect(await getVariableRow(t.db, 'nope')).to.equal(undefined);
      expect((await listVariableRows(t.db)).map((r) => r.key)).to.deep.equal(['a', 'b']);
      expect((await getVariableRows(t.db, ['b', 'nope', 'a'])).map((r) => r.key)).to.deep.equal(['a', 'b']);
      expect(await getVariableRows(t.db, [])).to.deep.equal([]);
      // Keys are parameters, never SQL.
      await upsertVariable(t.db, { key: "x'; drop table variable; --", val: 'v' });
      expect((await getVariableRow(t.db, "x'; drop table variable; --"))?.val).to.equal('v');
      expect(await deleteVariable(t.db, 'a')).to.equal(true);
      expect(await deleteVariable(t.db, 'a')).to.equal(false);
      expect(await deleteVariable(t.db, "x'; drop table variable; --")).to.equal(true);
      expect(await deleteVariable(t.db, 'b')).to.equal(true);
    });

    it('connection repository: insert (no overwrite), get, list, delete', async function () {
      const row = {
        conn_id: 'db',
        conn_type: 'postgres',
        description: 'd',
        host: 'h',
        schema: 's',
        login: 'l',
        password: 'p',
        port: 5432,
        extra: '{"a":1}',
        is_encrypted: false,
        is_extra_encrypted: false,
      };
      await insertConnection(t.db, row);
      await insertConnection(t.db, { conn_id: 'api', conn_type: 'http' });
      const err = await rejectionOf(insertConnection(t.db, { conn_id: 'db', conn_type: 'mysql' }));
      expect(err).to.be.instanceOf(ConnectionExistsError);
      expect(err.message).to.equal(
        'a connection with conn_id "db" already exists (delete it first, or pick another conn_id)',
      );
      expect(await getConnectionRow(t.db, 'db')).to.deep.equal(row);
      expect(await getConnectionRow(t.db, 'api')).to.deep.equal({
        conn_id: 'api',
        conn_type: 'http',
        description: null,
        host: null,
        schema: null,
        login: null,
        password: null,
        port: null,
        extra: null,
        is_encrypted: false,
        is_extra_encrypted: false,
      });
      expect((await listConnectionRows(t.db)).map((r) => r.conn_id)).to.deep.equal(['api', 'db']);
      expect(await deleteConnection(t.db, 'db')).to.equal(true);
      expect(await deleteConnection(t.db, 'db')).to.equal(false);
      expect(await deleteConnection(t.db, 'api')).to.equal(true);
    });

    it('encrypts sensitive variables at rest and reads them back', async function () {
      expect(await setVariable(t.db, 'api_token', 'tok-123456', { cipher, description: 'the token' })).to.deep.equal({
        is_encrypted: true,
      });
      const row = (await getVariableRow(t.db, 'api_token'))!;
      expect(row.is_encrypted).to.equal(true);
      expect(row.val).to.match(/^v1:/);
      expect(row.val).to.not.include('tok-123456');
      expect(await getVariable(t.db, 'api_token', { cipher })).to.deep.equal({
        key: 'api_token',
        val: 'tok-123456',
        description: 'the token',
        is_encrypted: true,
      });
      expect(await listVariables(t.db)).to.deep.equal([
        { key: 'api_token', description: 'the token', is_encrypted: true },
      ]);
    });

    it('stores plain variables in clear without a key, encrypted with one', async function () {
      expect(await setVariable(t.db, 'region', 'eu', { cipher: null })).to.deep.equal({ is_encrypted: false });
      expect((await getVariableRow(t.db, 'region'))!.val).to.equal('eu');
      expect((await getVariable(t.db, 'region', { cipher: null }))!.val).to.equal('eu');
      expect(await setVariable(t.db, 'region2', 'us', { cipher })).to.deep.equal({ is_encrypted: true });
      expect((await getVariable(t.db, 'region2', { cipher }))!.val).to.equal('us');
      expect(await getVariable(t.db, 'nope', { cipher })).to.equal(undefined);
    });

    it('refuses to store a sensitive variable without a key, and to read an encrypted one without it', async function () {
      const err = await rejectionOf(setVariable(t.db, 'db_PASSWORD', 'x', { cipher: null }));
      expect(err).to.be.instanceOf(SecretKeyError);
      expect(err.message).to.equal(
        `variable "db_PASSWORD" has a sensitive name, so storing it needs an encryption key: set UPDRAFT_FERNET_KEY (${HINT})`,
      );
      expect(await getVariableRow(t.db, 'db_PASSWORD')).to.equal(undefined);
      const read = await rejectionOf(getVariable(t.db, 'api_token', { cipher: null }));
      expect(read).to.be.instanceOf(SecretKeyError);
      expect(read.message).to.equal(
        'variable "api_token" is stored encrypted: set UPDRAFT_FERNET_KEY to the key it was stored with',
      );
    });

    it('fails clearly when reading with the wrong key, or a ciphertext moved to another row', async function () {
      const wrong = await rejectionOf(getVariable(t.db, 'api_token', { cipher: SecretCipher.fromKeyList(newKey()) }));
      expect(wrong).to.be.instanceOf(SecretDecryptError);
      expect(wrong.message).to.equal(
        'cannot decrypt variable "api_token": UPDRAFT_FERNET_KEY does not hold the key it was encrypted with (or the stored value was altered)',
      );
      const stolen = (await getVariableRow(t.db, 'api_token'))!.val;
      await upsertVariable(t.db, { key: 'innocent', val: stolen, is_encrypted: true });
      const moved = await rejectionOf(getVariable(t.db, 'innocent', { cipher }));
      expect(moved.message).to.equal(
        'cannot decrypt variable "innocent": UPDRAFT_FERNET_KEY does not hold the key it was encrypted with (or the stored value was altered)',
      );
    });

    it('uses UPDRAFT_FERNET_KEY when no cipher is given', async function () {
      const key = newKey();
      process.env[FERNET_KEY_ENV] = key;
      await setVariable(t.db, 'env_secret', 'from-env');
      expect(
        SecretCipher.fromKeyList(key).decrypt(
          (await getVariableRow(t.db, 'env_secret'))!.val,
          'variable:env_secret',
          'v',
        ),
      ).to.equal('from-env');
      expect((await getVariable(t.db, 'env_secret'))!.val).to.equal('from-env');
      delete process.env[FERNET_KEY_ENV];
      expect((await rejectionOf(setVariable(t.db, 'other_secret', 'x'))).message).to.match(
        /^variable "other_secret" has a sensitive name, so storing it needs an encryption key/,
      );
    });

    it('encrypts connection passwords and extras; reads them back decrypted', async function () {
      await addConnection(
        t.db,
        {
          conn_id: 'warehouse',
          conn_type: 'postgres',
          host: 'wh',
          port: 5432,
          login: 'etl',
          password: 'pw-987654',
          schema: 'dw',
          extra: { sslmode: 'require', api_key: 'k-123456' },
          description: 'the warehouse',
        },
        { cipher },
      );
      const row = (await getConnectionRow(t.db, 'warehouse'))!;
      expect([row.is_encrypted, row.is_extra_encrypted]).to.deep.equal([true, true]);
      expect(row.password).to.match(/^v1:/).and.not.include('pw-987654');
      expect(row.extra).to.match(/^v1:/).and.not.include('k-123456');
      expect(await getConnection(t.db, 'warehouse', { cipher })).to.deep.equal({
        conn_id: 'warehouse',
        conn_type: 'postgres',
        description: 'the warehouse',
        host: 'wh',
        schema: 'dw',
        login: 'etl',
        password: 'pw-987654',
        port: 5432,
        extra: '{"sslmode":"require","api_key":"k-123456"}',
      });
      expect(await listConnections(t.db)).to.deep.equal([
        {
          conn_id: 'warehouse',
          conn_type: 'postgres',
          description: 'the warehouse',
          host: 'wh',
          schema: 'dw',
          login: 'etl',
          port: 5432,
          is_encrypted: true,
          is_extra_encrypted: true,
        },
      ]);
      const wrong = await rejectionOf(getConnection(t.db, 'warehouse', { cipher: SecretCipher.fromKeyList(newKey()) }));
      expect(wrong.message).to.equal(
        'cannot decrypt the password of connection "warehouse": UPDRAFT_FERNET_KEY does not hold the key it was encrypted with (or the stored value was altered)',
      );
      const none = await rejectionOf(getConnection(t.db, 'warehouse', { cipher: null }));
      expect(none.message).to.equal(
        'the password of connection "warehouse" is stored encrypted: set UPDRAFT_FERNET_KEY to the key it was stored with',
      );
      expect(await getConnection(t.db, 'nope', { cipher })).to.equal(undefined);
    });

    it('without a key: refuses passwords and sensitive extras, stores the rest in clear', async function () {
      const pw = await rejectionOf(
        addConnection(t.db, { conn_id: 'c1', conn_type: 'http', password: 'x' }, { cipher: null }),
      );
      expect(pw.message).to.equal(
        `connection "c1" has a password, so storing it needs an encryption key: set UPDRAFT_FERNET_KEY (${HINT})`,
      );
      const extra = await rejectionOf(
        addConnection(
          t.db,
          { conn_id: 'c2', conn_type: 'http', extra: '{"auth": {"Access_Token": "t"}}' },
          { cipher: null },
        ),
      );
      expect(extra.message).to.equal(
        `connection "c2" has sensitive fields in extra, so storing it needs an encryption key: set UPDRAFT_FERNET_KEY (${HINT})`,
      );
      await addConnection(
        t.db,
        { conn_id: 'c3', conn_type: 'http', host: 'api', extra: '{"timeout": 5}', password: '' },
        { cipher: null },
      );
      expect(await getConnectionRow(t.db, 'c3')).to.deep.include({
        password: null,
        extra: '{"timeout":5}',
        is_encrypted: false,
        is_extra_encrypted: false,
      });
      expect((await getConnection(t.db, 'c3', { cipher: null }))!.extra).to.equal('{"timeout":5}');
      expect(await getConnectionRow(t.db, 'c1')).to.equal(undefined);
    });

    it('validates connection input, naming the connection and the field', async function () {
      const cases: Array<[Parameters<typeof addConnection>[1], string]> = [
        [
          { conn_id: 'bad id', conn_type: 'http' },
          `conn_id "bad id" may contain only ASCII letters, digits, '-', '.' and '_' (at most 250 characters)`,
        ],
        [{ conn_id: 'c', conn_type: ' ' }, 'connection "c": conn_type is required (e.g. postgres, http, aws)'],
        [
          { conn_id: 'c', conn_type: 'http', port: 70000 },
          'connection "c": port must be an integer from 0 to 65535, got 70000',
        ],
        [
          { conn_id: 'c', conn_type: 'http', extra: '[1]' },
          'connection "c": extra must be a JSON object like {"region": "eu-west-1"}, got an array',
        ],
        [
          { conn_id: 'c', conn_type: 'http', extra: '"api-key-1234567"' },
          'connection "c": extra must be a JSON object like {"region": "eu-west-1"}, got a string',
        ],
        [
          { conn_id: 'c', conn_type: 'http', extra: '{api_key: sk-1234567}' },
          `connection "c": extra must be a JSON object like {"region": "eu-west-1"}: expected a property name or '}' at position 1`,
        ],
      ];
      for (const [input, message] of cases) {
        const err = await rejectionOf(addConnection(t.db, input, { cipher }));
        expect(err).to.be.instanceOf(SecretInputError);
        expect(err.message.startsWith(message), `${err.message} starts with ${message}`).to.equal(true);
      }
      const dup = await rejectionOf(addConnection(t.db, { conn_id: 'warehouse', conn_type: 'http' }, { cipher }));
      expect(dup).to.be.instanceOf(ConnectionExistsError);
    });

    it('the migration goes down and up again', async function () {
      const name = '2026_11_23_000002_variables_connections';
      // Undo down to (and including) this migration, whatever later ones exist.
      const undone: string[] = [];
      while (!undone.includes(name)) {
        const step = await migrateDown(t.db);
        expect(step, `migrating down stopped before ${name}`).to.have.length(1);
        undone.push(...step);
      }
      const tables = (await t.db.introspection.getTables()).map((x) => x.name);
      expect(tables).to.not.include('variable');
      expect(tables).to.not.include('connection');
      expect(await migrateToLatest(t.db)).to.deep.equal([...undone].reverse());
      expect(await appliedMigrations(t.db)).to.include(name);
      expect(await listVariableRows(t.db)).to.deep.equal([]);
    });
  });
}

describe('postgres: `updraft variables` and `updraft connections` (the CLI as a process)', function () {
  this.timeout(120_000);
  const ROOT = path.resolve(__dirname, '..', '..', '..');
  let handle: Awaited<ReturnType<typeof createTestDatabase>>;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    handle = await createTestDatabase('postgres');
    env = {
      ...process.env,
      DATABASE_URL: handle.url!,
      UPDRAFT_HOME: tempDir('cli-secrets'),
      [FERNET_KEY_ENV]: newKey(),
    };
  });
  after(async function () {
    await handle?.close();
  });

  function cli(
    args: string[],
    extraEnv: NodeJS.ProcessEnv = {},
  ): { code: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'updraft.js'), ...args], {
      env: { ...env, ...extraEnv },
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('sets, gets, lists and deletes variables', function () {
    expect(cli(['variables', 'set', 'region', 'eu-west-1', '--description', 'where'])).to.deep.include({
      code: 0,
      stdout: 'Variable region created (encrypted)\n',
    });
    expect(cli(['variables', 'set', 'cfg', '{"layers": [64, 32]}', '--json']).code).to.equal(0);
    expect(cli(['variables', 'get', 'region']).stdout).to.equal('eu-west-1\n');
    expect(cli(['variables', 'get', 'cfg', '--json']).stdout).to.equal('{\n  "layers": [\n    64,\n    32\n  ]\n}\n');
    expect(cli(['variables', 'get', 'nope'])).to.deep.include({
      code: 1,
      stderr: 'Error: Variable nope does not exist (see updraft variables list)\n',
    });
    expect(cli(['variables', 'get', 'nope', '-d', 'fallback']).stdout).to.equal('fallback\n');
    const list = JSON.parse(cli(['variables', 'list', '-o', 'json']).stdout) as unknown;
    expect(list).to.deep.equal([
      { key: 'cfg', description: null, is_encrypted: true },
      { key: 'region', description: 'where', is_encrypted: true },
    ]);
    expect(cli(['variables', 'set', 'bad', '{x', '--json'])).to.deep.include({ code: 2 });
    expect(cli(['variables', 'delete', 'cfg']).stdout).to.equal('Variable cfg deleted\n');
    expect(cli(['variables', 'delete', 'cfg']).code).to.equal(1);
  });

  it('refuses a sensitive variable without UPDRAFT_FERNET_KEY and says how to make one', function () {
    const r = cli(['variables', 'set', 'api_token', 'abc'], { [FERNET_KEY_ENV]: '' });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal(
      `Error: variable "api_token" has a sensitive name, so storing it needs an encryption key: set UPDRAFT_FERNET_KEY (${HINT})\n`,
    );
  });

  it('adds, lists, gets and deletes connections without ever printing the password', function () {
    const secret = `pw-${randomBytes(6).toString('hex')}`;
    expect(
      cli([
        'connections',
        'add',
        'wh',
        '--conn-type',
        'postgres',
        '--conn-host',
        'wh.local',
        '--conn-port',
        '5432',
        '--conn-login',
        'etl',
        '--conn-password',
        secret,
        '--conn-schema',
        'dw',
        '--conn-extra',
        '{"sslmode": "require", "api_key": "extra-secret"}',
      ]).stdout,
    ).to.equal('Successfully added conn_id wh\n');
    expect(cli(['connections', 'add', 'wh', '--conn-type', 'http'])).to.deep.include({
      code: 1,
      stderr: 'Error: a connection with conn_id "wh" already exists (delete it first, or pick another conn_id)\n',
    });
    expect(
      cli([
        'connections',
        'add',
        'api',
        '--conn-uri',
        `https://user:${encodeURIComponent(secret)}@api.local:8443/v1?timeout=5`,
      ]).code,
    ).to.equal(0);
    expect(cli(['connections', 'add', 'x', '--conn-uri', 'http://h', '--conn-host', 'h'])).to.deep.include({
      code: 2,
      stderr: 'Error: --conn-uri cannot be combined with --conn-host\n',
    });
    const list = cli(['connections', 'list']);
    const listJson = cli(['connections', 'list', '-o', 'json']);
    const get = JSON.parse(cli(['connections', 'get', 'wh', '-o', 'json']).stdout) as unknown;
    const getApi = JSON.parse(cli(['connections', 'get', 'api', '-o', 'json']).stdout) as unknown;
    for (const out of [list.stdout, listJson.stdout, JSON.stringify(get), JSON.stringify(getApi)]) {
      expect(out).to.not.include(secret);
      expect(out).to.not.include('extra-secret');
    }
    expect(list.stdout).to.include('wh      | postgres');
    expect(get).to.deep.equal([
      {
        conn_id: 'wh',
        conn_type: 'postgres',
        description: null,
        host: 'wh.local',
        port: 5432,
        schema: 'dw',
        login: 'etl',
        password: '***',
        extra: { sslmode: 'require', api_key: '***' },
      },
    ]);
    expect(getApi).to.deep.equal([
      {
        conn_id: 'api',
        conn_type: 'https',
        description: null,
        host: 'api.local',
        port: 8443,
        schema: 'v1',
        login: 'user',
        password: '***',
        extra: { timeout: '5' },
      },
    ]);
    expect(cli(['connections', 'delete', 'wh']).stdout).to.equal('Successfully deleted conn_id wh\n');
    expect(cli(['connections', 'delete', 'wh'])).to.deep.include({
      code: 1,
      stderr: 'Error: Did not find a connection with conn_id wh\n',
    });
  });
});
