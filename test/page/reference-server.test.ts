// The reference pages' server as a publisher's backend (harness/page/reference/server.ts), over plain HTTP:
// a server-side login generates with optout_check 1 and hands the identity to the next view only; site
// opt-outs are kept per person (every spelling) and stop generating; an optout answer is remembered; the two
// server-side page faults do exactly their mistake. The pages' browser behaviour is in reference-browser.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { RunningOperator } from '../../harness/operator/index.ts';
import { hashDii, personKey } from '../../harness/wire/dii.ts';
import { startPagesWithOperator } from './reference-fixture.ts';

let running: Awaited<ReturnType<typeof startPagesWithOperator>> | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** A browser's session with one page: its cookie, form posts (redirects not followed) and the view's PAGE. */
function visitor(base: string) {
  let cookie = '';
  const keep = (res: Response) => {
    const set = res.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0]!;
    return res;
  };
  return {
    post: async (action: string, form: Record<string, string>) => keep(await fetch(`${base}${action}`, { method: 'POST', body: new URLSearchParams(form), headers: { cookie }, redirect: 'manual' })),
    async view(): Promise<{ html: string; session: { uid2: string; handover: unknown; user: unknown } | null }> {
      const html = await (await fetch(base, { headers: { cookie } })).text();
      const json = /window\.PAGE = (.*);<\/script>/.exec(html)![1]!;
      return { html, session: JSON.parse(json).session };
    },
  };
}

const email = () => `page-${randomUUID()}@example.com`;
const person = (field: 'email' | 'phone', value: string) => personKey(hashDii(field, value));
const callsAbout = (op: RunningOperator, p: string) => op.operator.calls.list(0).filter((c) => c.persons.includes(p));

describe('the reference pages server', () => {
  it('generates at a server-side login with optout_check 1 and hands the identity to the next view only', async () => {
    running = await startPagesWithOperator({ pages: ['prebid-server'] });
    const user = email();
    const v = visitor(running.pages.pages[0]!.url);
    const login = await v.post('login', { email: user });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/prebid-server/');
    const first = await v.view();
    expect(first.session?.uid2).toBe('identity');
    expect(first.session?.handover).toMatchObject({ advertising_token: expect.any(String), refresh_token: expect.any(String) });
    expect((await v.view()).session?.handover).toBeNull();
    expect(callsAbout(running.op, person('email', user)).map((c) => [c.endpoint, c.status, c.optoutCheck])).toEqual([['generate', 'success', 1]]);
  });

  it('keeps a site opt-out per person: a later login in another spelling makes no generate, on server-side and CSTG pages', async () => {
    running = await startPagesWithOperator({ pages: ['sdk-server', 'prebid-cstg'] });
    for (const page of running.pages.pages) {
      const local = `pat.lee.${randomUUID().slice(0, 8)}`;
      const v = visitor(page.url);
      expect((await v.post('site-optout', { email: `${local}+news@gmail.com` })).status).toBe(303);
      await v.post('login', { email: `  ${local.replaceAll('.', '').toUpperCase()}@GMAIL.com ` });
      expect((await v.view()).session?.uid2).toBe('site-optout');
      expect(callsAbout(running.op, person('email', `${local}@gmail.com`))).toEqual([]);
    }
  });

  it('a site opt-out of the logged-in user ends the session\'s UID2 at once; other users still generate', async () => {
    running = await startPagesWithOperator({ pages: ['prebid-server'] });
    const [a, b] = [email(), email()];
    const v = visitor(running.pages.pages[0]!.url);
    await v.post('login', { email: a });
    await v.post('site-optout', { email: a.toUpperCase() });
    expect((await v.view()).session?.uid2).toBe('site-optout');
    await v.post('login', { email: b });
    expect((await v.view()).session?.uid2).toBe('identity');
    expect(callsAbout(running.op, person('email', a)).map((c) => c.endpoint)).toEqual(['generate']); // the one before the opt-out
  });

  it('remembers an optout answer: the next login of that user makes no generate', async () => {
    running = await startPagesWithOperator({ pages: ['sdk-server'] });
    const v = visitor(running.pages.pages[0]!.url);
    await v.post('login', { email: 'optout@example.com' }); // the documented test identity: always optout (UID2-SPEC §4)
    expect((await v.view()).session?.uid2).toBe('optout');
    await v.post('login', { email: 'Optout@Example.com' });
    expect((await v.view()).session?.uid2).toBe('optout');
    expect(callsAbout(running.op, person('email', 'optout@example.com')).map((c) => [c.endpoint, c.status])).toEqual([['generate', 'optout']]);
  });

  it('fault page-server-relays-site-optout: a site opt-out becomes a logout call; the conformant server makes none', async () => {
    for (const fault of [undefined, 'page-server-relays-site-optout']) {
      running = await startPagesWithOperator({ pages: ['prebid-server'], fault });
      const user = email();
      await visitor(running.pages.pages[0]!.url).post('site-optout', { email: user });
      expect(callsAbout(running.op, person('email', user)).map((c) => c.endpoint)).toEqual(fault ? ['logout'] : []);
      await running.close();
      running = undefined;
    }
  });

  it('fault page-server-phone-without-optout-check: phone logins lack optout_check, email logins carry 1', async () => {
    running = await startPagesWithOperator({ pages: ['sdk-server'], fault: 'page-server-phone-without-optout-check' });
    const v = visitor(running.pages.pages[0]!.url);
    const [mail, phone] = [email(), `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`];
    await v.post('login', { email: mail });
    await v.post('login', { phone });
    expect(callsAbout(running.op, person('email', mail)).map((c) => c.optoutCheck)).toEqual([1]);
    expect(callsAbout(running.op, person('phone', phone)).map((c) => c.optoutCheck)).toEqual([undefined]);
  });

  it('refuses what is not a user (400), unknown pages (404) and unknown methods (405); a user never closes the page script', async () => {
    running = await startPagesWithOperator({ pages: ['prebid-cstg'] });
    const page = running.pages.pages[0]!.url;
    const v = visitor(page);
    expect((await v.post('login', {})).status).toBe(400);
    expect((await v.post('login', { email: 'x@example.com', phone: '+15550001111' })).status).toBe(400);
    expect((await v.post('login', { phone: '5550001111' })).status).toBe(400);
    expect((await fetch(`${running.pages.url}/no-such-page/`)).status).toBe(404);
    expect((await fetch(`${page}login`)).status).toBe(405);
    await v.post('login', { email: 'a</script><script>alert(1)</script>@example.com' });
    const { html, session } = await v.view();
    expect(html).not.toContain('</script><script>alert');
    expect(session?.user).toEqual({ email: 'a</script><script>alert(1)</script>@example.com' });
  });
});
