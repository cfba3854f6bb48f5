// The participant side of `uid2-conformance run` as a user's CI sees it: a driver that is down, answers
// garbage or hangs gives `error` results and exit 2 with a clear message, never a pass or a fail.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = new URL('../../bin/uid2-conformance.mjs', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'uid2-driver-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }));
  });
}

/** A misbehaving driver: `answer` decides per request. */
async function fakeDriver(answer: (path: string, res: import('node:http').ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(req.url ?? '/', res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const report = (dir: string) => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { outcome: string; error?: string; results: Array<{ status: string; message: string }> };

describe('run --driver against a misbehaving participant', () => {
  it('exits 2 when the driver is down, answers garbage to GET /, or hangs', async () => {
    const garbage = await fakeDriver((_path, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>hello</html>'));
    const hanging = await fakeDriver(() => {});
    try {
      const cases: Array<[string, RegExp]> = [
        ['http://127.0.0.1:9', /cannot use the driver: GET .* is unreachable \(ECONNREFUSED\)/],
        [garbage.url, /cannot use the driver: GET .* answered something that is not a JSON object/],
        [hanging.url, /cannot use the driver: GET .* did not answer within 500 ms/],
      ];
      for (const [driver, message] of cases) {
        const dir = join(out, String(cases.findIndex(([d]) => d === driver)));
        const { code, stderr } = await cli(['run', '--driver', driver, '--timeout', '500ms', '--out', dir]);
        expect(code, stderr).toBe(2);
        expect(stderr).toMatch(message);
        expect(report(dir)).toMatchObject({ outcome: 'error', error: expect.stringMatching(message) });
      }
    } finally {
      hanging.server.closeAllConnections();
      await Promise.all([garbage, hanging].map(({ server }) => new Promise((r) => server.close(r))));
    }
  });

  it('gives error results, not passes, when the driver plays a role but answers its actions with garbage', async () => {
    const liar = await fakeDriver((path, res) => {
      if (path === '/') res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ roles: ['publisher', 'sharer'] }));
      else res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ something: 'else' }));
    });
    try {
      const dir = join(out, 'liar');
      const { code, stderr } = await cli(['run', '--driver', liar.url, '--timeout', '2s', '--out', dir]);
      expect(code, stderr).toBe(2);
      const results = report(dir).results.filter((r) => r.status !== 'not_applicable');
      expect(results.length).toBeGreaterThan(0);
      expect(results.every((r) => r.status === 'error'), JSON.stringify(results.map((r) => [r.status, r.message]))).toBe(true);
      expect(results.some((r) => /did not answer/.test(r.message))).toBe(true);
    } finally {
      await new Promise((r) => liar.server.close(r));
    }
  });
});
