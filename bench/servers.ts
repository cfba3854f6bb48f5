// The servers the wire benchmark talks to, in a process of their own (as a real operator would be):
// the simulated operator, and a bare node:http server answering plain JSON of the same shape.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startOperator } from '../harness/operator/index.ts';

/** A generate answer's shape with fake values of the real lengths, so both paths move similar bytes. */
const PLAIN_ANSWER = JSON.stringify({
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

const operator = await startOperator();
const plain = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    JSON.parse(Buffer.concat(chunks).toString('utf8'));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(PLAIN_ANSWER) }).end(PLAIN_ANSWER);
  });
});
await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));

process.send!({ operator: { url: operator.url, credentials: operator.credentials }, plainUrl: `http://127.0.0.1:${(plain.address() as AddressInfo).port}` });
process.on('message', (message) => {
  if (message === 'stats') process.send!({ maxRssKb: process.resourceUsage().maxRSS, cpuUs: process.cpuUsage() });
  if (message === 'stop') void operator.close().then(() => plain.close(() => process.exit(0)));
});
