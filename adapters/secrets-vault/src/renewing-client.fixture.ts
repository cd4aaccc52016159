/**
 * Child process of the "exits after disconnect" test: connects a VaultSecrets whose token is
 * renewable with a short TTL, waits until the server has seen the adapter renew it, disconnects,
 * then watches the token (lookup-self, which does not renew) until the server says it expired —
 * which it never does while a renewal timer is still running. Prints one JSON line and does
 * nothing more: the process must end on its own, so nothing (timer, socket) may be left open.
 * Env: SECRETS_VAULT_ADDR, SECRETS_VAULT_PATH, FIXTURE_KEY, and FIXTURE_ROOT_TOKEN with FIXTURE_POLICY:
 * the fixture creates its own 3 s token with that policy once it runs (a slow process start on a
 * loaded machine cannot let a token made by the parent expire before it is used).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { VaultSecrets } from './vault-secrets.js';

const address = process.env.SECRETS_VAULT_ADDR ?? '';
const created = await fetch(`${address}/v1/auth/token/create`, {
  method: 'POST',
  headers: { 'X-Vault-Token': process.env.FIXTURE_ROOT_TOKEN ?? '' },
  body: JSON.stringify({ policies: [process.env.FIXTURE_POLICY ?? ''], ttl: '3s', renewable: true }),
});
const token = ((await created.json()) as { auth: { client_token: string } }).auth.client_token;

/** The token's `last_renewal_time` (0 when never renewed), or `undefined` once it is gone. */
async function lastRenewal(): Promise<number | undefined> {
  const response = await fetch(`${address}/v1/auth/token/lookup-self`, { headers: { 'X-Vault-Token': token } });
  if (response.status === 403) return undefined;
  const body = (await response.json()) as { data?: { last_renewal_time?: number } };
  return body.data?.last_renewal_time ?? 0;
}

async function pollUntil(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      process.stdout.write('{"timedOut":true}\n');
      process.exit(3);
    }
    await sleep(100);
  }
}

const secrets = new VaultSecrets({
  address,
  auth: { method: 'token', token },
  path: process.env.SECRETS_VAULT_PATH ?? '',
});
await secrets.connect();
const value = await secrets.require(process.env.FIXTURE_KEY ?? '');
await pollUntil(async () => ((await lastRenewal()) ?? 0) > 0);
await secrets.disconnect();
await pollUntil(async () => (await lastRenewal()) === undefined);
process.stdout.write(`${JSON.stringify({ valueLength: value.length, renewed: true, expiredAfterDisconnect: true })}\n`);
