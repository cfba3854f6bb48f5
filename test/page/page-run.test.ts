// `run --role publisher --page URL --journey FILE` end to end, in-process: the kit's operator at
// --operator-listen (the fixture page's server generates through it, as a publisher's staging server would),
// the page in Chromium, a passing and a failing check; and the usage errors of page runs (exit 2).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fail, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import type { RunResult } from '../../harness/engine/result.ts';
import { validateWith } from '../../harness/engine/schemas.ts';
import { runCommand, RUN_DEFAULTS, type RunOptions } from '../../harness/run.ts';
import { startFixturePage } from './fixture.ts';
import { freePort } from '../free-port.ts';

const KIT = { name: 'uid2-conformance', version: 'test' };
const CREDENTIALS = { apiKey: 'UID2-C-L-page-run-test', clientSecret: Buffer.alloc(32, 7).toString('base64') };
const JOURNEY = 'test/page/fixture.journey.ts';
let port: number;
let page: { pageUrl: string; close(): Promise<void> };
let out: string;


beforeAll(async () => {
  port = await freePort();
  page = await startFixturePage({ url: `http://127.0.0.1:${port}`, ...CREDENTIALS });
  out = mkdtempSync(join(tmpdir(), 'uid2-page-run-'));
});
afterAll(() => page?.close());

const options = (extra: Partial<RunOptions>): RunOptions => ({
  ...RUN_DEFAULTS,
  role: ['publisher'],
  operatorListen: `127.0.0.1:${port}`,
  ...CREDENTIALS,
  concurrency: '2',
  deadline: '2m',
  out,
  ...extra,
});
const report = (): RunResult => JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as RunResult;

const user = (ctx: ParticipantCheckContext) => ({ email: ctx.identities.email() });
const CHECKS: Check<ParticipantCheckContext>[] = [
  {
    id: 'publisher.page-test.login',
    rule: 'PUB-REFRESH',
    kind: 'scenario',
    needs: ['publisher'],
    title: 'a login through the page answers a token the kit operator issued',
    async run(ctx) {
      const token = await ctx.driver.login(user(ctx));
      if (token === null || !ctx.tokens.decode(token).ok) fail('no token from the kit operator');
      return 'a token';
    },
  },
  {
    id: 'publisher.page-test.fails',
    rule: 'PUB-SITE-OPTOUT',
    kind: 'scenario',
    needs: ['publisher'],
    title: 'fails on purpose after a login, for its screenshot',
    async run(ctx) {
      await ctx.driver.login(user(ctx));
      fail('this check fails on purpose');
    },
  },
];

describe('run --page', () => {
  it('drives the page as the publisher: verdicts, browser counts (nothing refused), a screenshot of the failed check', async () => {
    expect(await runCommand(options({ page: page.pageUrl, journey: JOURNEY, operatorHost: ['operator-integ.uidapi.com'] }), KIT, { participantChecks: CHECKS })).toBe(1);
    const run = report();
    expect(validateWith('report', run)).toEqual([]);
    expect(run.target.url).toBe(page.pageUrl);
    expect(run.results.map((r) => [r.check, r.status])).toEqual([
      ['publisher.page-test.login', 'pass'],
      ['publisher.page-test.fails', 'fail'],
    ]);
    // The page's refresh timer may come due (refresh_from 1 s after issue) before a check closes its user's page.
    expect(run.browser).toEqual({ operator_requests: expect.any(Number), bidder_requests: 0, refused_requests: 0, refused_hosts: {}, contexts_opened: 2, page_loads: expect.any(Number) });
    expect(run.browser!.page_loads).toBeGreaterThanOrEqual(2);
    const failed = run.results[1]!;
    expect(failed.screenshots).toEqual([{ file: 'screenshots/publisher-page-test-fails-1.png', caption: expect.stringMatching(/^the page of <email dii#\d+> when the check ended$/) }]);
    expect(readFileSync(join(out, failed.screenshots![0]!.file)).subarray(1, 4).toString()).toBe('PNG');
    expect(run.results[0]!.screenshots).toBeUndefined();
    const html = readFileSync(join(out, 'audit.html'), 'utf8');
    expect(html).toContain('<img src="data:image/png;base64,iVBORw0KGgo');
    expect(readFileSync(join(out, 'audit.md'), 'utf8')).toContain('(screenshots/publisher-page-test-fails-1.png)');
  }, 120_000);

  const refused: Array<[string, Partial<RunOptions>, RegExp]> = [
    ['--page without --journey', { page: 'http://127.0.0.1:9/' }, /--page needs --journey/],
    ['--journey without --page', { journey: JOURNEY }, /--journey needs --page/],
    ['--page with --driver', { page: 'http://127.0.0.1:9/', journey: JOURNEY, driver: 'http://127.0.0.1:9/' }, /--page .* and --driver go in separate runs/],
    ['--page with --role dsp', { page: 'http://127.0.0.1:9/', journey: JOURNEY, role: ['dsp'] }, /--page tests the publisher role only/],
    ['a --page that is no URL', { page: 'not a url', journey: JOURNEY }, /--page: not a URL/],
    ['a missing browser', { page: 'http://127.0.0.1:9/', journey: JOURNEY, chromium: '/nonexistent/chromium' }, /--chromium: no browser at \/nonexistent\/chromium: install Debian's Chromium/],
    ['a missing journey file', { page: 'http://127.0.0.1:9/', journey: 'test/page/no-such.journey.mjs' }, /--journey test\/page\/no-such.journey.mjs: cannot load it/],
  ];
  it.each(refused)('%s is exit 2 with the reason in report.json', async (_, extra, reason) => {
    expect(await runCommand(options(extra), KIT, { participantChecks: CHECKS })).toBe(2);
    expect(report()).toMatchObject({ outcome: 'error', error: expect.stringMatching(reason), results: [] });
  });

  it('takes its options from a config file too (schemas/config.schema.json)', () => {
    expect(validateWith('config', { role: ['publisher'], page: 'http://127.0.0.1:8080/login', journey: 'site.journey.mjs', chromium: '/usr/bin/chromium', 'operator-host': ['operator-integ.uidapi.com'], 'open-pages': 3 })).toEqual([]);
    expect(validateWith('config', { 'operator-host': [''] })).not.toEqual([]);
    expect(validateWith('config', { 'open-pages': 0 })).not.toEqual([]);
  });

  it('a journey whose default export misses a function or has no valid observer is exit 2 naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uid2-journey-'));
    const cases: Array<[string, RegExp]> = [
      ["export default { observer: 'prebid', login() {}, siteOptOut() {} };", /the default export has no logout function/],
      ["export default { observer: 'prebid', login() {}, siteOptOut() {}, logout() {}, adRequest: 1 };", /the default export has no adRequest function/],
      ["export default { observer: 'dom', login() {}, siteOptOut() {}, logout() {} };", /observer must be 'prebid', 'uid2-sdk' or a function/],
      ['export const login = () => {};', /its default export must be a Journey object/],
    ];
    for (const [i, [source, reason]] of cases.entries()) {
      const file = join(dir, `j${i}.mjs`);
      writeFileSync(file, source);
      expect(await runCommand(options({ page: page.pageUrl, journey: file }), KIT, { participantChecks: CHECKS })).toBe(2);
      expect(report().error).toMatch(reason);
    }
  });
});
