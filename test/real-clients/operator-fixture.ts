// What both real-client tests need from the kit's side: the publisher's server generating an identity for
// the client to be handed, and the opt-out service registering a global opt-out.
import { expect } from 'vitest';
import type { OperatorClient } from '../../harness/client/operator-client.ts';
import type { IdentityBody } from '../../harness/wire/identity.ts';

export type { IdentityBody };

/** Server-side generate through the kit's client, for the identity the real client is handed. */
export async function generateIdentity(client: OperatorClient, email: string): Promise<IdentityBody> {
  const gen = await client.generate({ email });
  const answer = gen.body as { status?: string; body?: IdentityBody } | undefined;
  if (gen.http !== 200 || answer?.status !== 'success' || !answer.body) {
    throw new Error(`generate answered HTTP ${gen.http} ${JSON.stringify(answer?.status)}, expected success`);
  }
  return answer.body;
}

/** Registers a global opt-out for the email (OPTOUT role); visible at once with propagationDelayMs 0. */
export async function optOut(optoutClient: OperatorClient, email: string): Promise<void> {
  const logout = await optoutClient.logout({ email });
  expect(logout.http).toBe(200);
  expect(logout.body).toEqual({ status: 'success', body: { optout: 'OK' } });
}
