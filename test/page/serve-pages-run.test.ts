// A CSTG page served on its own (`serve-pages`, the binary) and tested by a separate `run --role publisher
// --page URL --journey FILE --operator-listen H:P` with the same credentials: the run's kit operator derives
// its CSTG key pair from the client secret, serve-pages derives the same public key and subscription id, so the
// page's client-side generate reaches the run's operator and is answered; no secret is printed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { defaultChromium } from '../../harness/page/browser.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../../harness/engine/result.ts';
import { runCommand, RUN_DEFAULTS } from '../../harness/run.ts';
import { PUBLISHER_CHECKS } from '../../suites/publisher/index.ts';
import { freePort } from '../free-port.ts';

const BIN = new URL('../../bin/uid2-conformance.mjs', import.meta.url).pathname;
const KIT = { name: 'uid2-conformance', version: 'test' };
const CREDENTIALS = { apiKey: 'UID2-C-L-serve-pages-test', clientSecret: Buffer.alloc(32, 11).toString('base64') };
const CHROMIUM = process.env.UID2_CHROMIUM ?? defaultChromium();
/** One check whose pass needs the page's client-side generate answered by the run's operator (an optout answer). */
const CHECK = 'publisher.optout-response.before-login';

let serving: ChildProcess | undefined;
let stderr = '';
let pages: Map<string, string>;
let port: number;


beforeAll(async () => {
  port = await freePort();
  const args = ['serve-pages', '--listen', '127.0.0.1:0', '--operator', `http://127.0.0.1:${port}`, '--api-key', CREDENTIALS.apiKey, '--client-secret', CREDENTIALS.clientSecret];
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  serving = child;
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  // One line per page: URL and journey file; the four pages, CSTG ones included, with no CSTG option given.
  pages = await new Promise<Map<string, string>>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const lines = [...out.matchAll(/^(http:\/\/\S+\/([a-z-]+)\/) (\S+)$/gm)];
      if (lines.length === 4) resolve(new Map(lines.map((m) => [m[2]!, `${m[1]} ${m[3]}`])));
    });
    child.on('exit', (code) => reject(new Error(`serve-pages exited (${code}): ${stderr}`)));
  });
}, 60_000);

afterAll(() => void serving?.kill('SIGTERM'));

describe.skipIf(!existsSync(CHROMIUM))('serve-pages and a separate run --page', () => {
  it('serves the CSTG pages with the key derived from --client-secret, printing no secret', () => {
    expect([...pages.keys()].sort()).toEqual(['prebid-cstg', 'prebid-server', 'sdk-cstg', 'sdk-server']);
    expect(stderr).toMatch(/CSTG with the CSTG key the kit's operator derives from --client-secret/);
    expect(stderr).not.toContain(CREDENTIALS.clientSecret);
  });

  it(`the sdk-cstg page passes ${CHECK} against the run's kit operator`, async () => {
    const [pageUrl, journey] = pages.get('sdk-cstg')!.split(' ') as [string, string];
    const out = mkdtempSync(join(tmpdir(), 'uid2-serve-pages-run-'));
    const code = await runCommand(
      { ...RUN_DEFAULTS, role: ['publisher'], page: pageUrl, journey, operatorListen: `127.0.0.1:${port}`, ...CREDENTIALS, concurrency: '2', deadline: '3m', out },
      KIT,
      { participantChecks: PUBLISHER_CHECKS.filter((c) => c.id === CHECK) },
    );
    const run = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as RunResult;
    expect(run.results.map((r) => [r.check, r.status, r.message])).toEqual([[CHECK, 'pass', expect.any(String)]]);
    expect(code).toBe(0);
    expect(run.browser).toMatchObject({ refused_requests: 0 });
  }, 180_000);
});
