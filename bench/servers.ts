// The servers the wire benchmark talks to, in a process of their own (as a real operator would be):
// the simulated operator; a bare node:http server answering plain JSON of a generate answer's shape;
// and, as yardsticks, bare servers doing nothing but a minimal AES-GCM envelope (decrypt, encrypt), and that
// envelope plus the three encryptions of minting a token pair.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startOperator } from '../harness/operator/index.ts';
import { gcmDecrypt, gcmEncrypt } from '../harness/wire/gcm.ts';

/** A generate answer's shape with fake values of the real lengths, so every path moves similar bytes. */
export const GENERATE_SHAPED_ANSWER = JSON.stringify({
  status: 'success',
  body: {
    advertising_token: 'A'.repeat(218),
    refresh_token: 'R'.repeat(388),
    identity_expires: Date.now(),
    refresh_from: Date.now(),
    refresh_expires: Date.now(),
    refresh_response_key: 'K'.repeat(44),
  },
});
export const MINIMAL_KEY = Buffer.alloc(32, 7);

function bareServer(answer: (body: Buffer) => Buffer) {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const out = answer(Buffer.concat(chunks));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': out.length }).end(out);
    });
  });
}

const listen = async (server: ReturnType<typeof createServer>) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

const operator = await startOperator();
const plain = bareServer((body) => {
  JSON.parse(body.toString('utf8'));
  return Buffer.from(GENERATE_SHAPED_ANSWER);
});
const minimal = bareServer((body) => {
  JSON.parse(gcmDecrypt(MINIMAL_KEY, Buffer.from(body.toString('latin1'), 'base64')).toString('utf8'));
  return Buffer.from(gcmEncrypt(MINIMAL_KEY, Buffer.from(GENERATE_SHAPED_ANSWER)).toString('base64'));
});

/** The minimal envelope plus the three AES-GCM encryptions any generate must do to mint SDK-decryptable tokens. */
const minting = bareServer((body) => {
  JSON.parse(gcmDecrypt(MINIMAL_KEY, Buffer.from(body.toString('latin1'), 'base64')).toString('utf8'));
  for (const size of [69, 130, 258]) gcmEncrypt(MINIMAL_KEY, Buffer.alloc(size)); // site payload, master payload, refresh token
  return Buffer.from(gcmEncrypt(MINIMAL_KEY, Buffer.from(GENERATE_SHAPED_ANSWER)).toString('base64'));
});

process.send!({ operator: { url: operator.url, credentials: operator.credentials }, plainUrl: await listen(plain), minimalUrl: await listen(minimal), mintingUrl: await listen(minting) });
process.on('message', (message) => {
  if (message === 'stats') process.send!({ maxRssKb: process.resourceUsage().maxRSS, cpuUs: process.cpuUsage() });
  if (message === 'stop') void operator.close().then(() => process.exit(0));
});
