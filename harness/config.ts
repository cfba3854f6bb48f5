// Parsing of option values shared by every command (PROTOCOL.md §1): durations and listen addresses.

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The target cannot be tested (unreachable, credentials refused): exit 2 with this message. */
export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetError';
  }
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000 } as const;

/** `250ms`, `30s`, `10m` to milliseconds. */
export function parseDuration(text: string, option: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) throw new UsageError(`${option}: "${text}" is not a duration (use e.g. 500ms, 30s, 10m)`);
  return Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
}

/** `HOST:PORT` (IPv6 as `[::1]:PORT`); port 0 picks a free one. */
export function parseListen(text: string, option: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new UsageError(`${option}: "${text}" is not HOST:PORT (e.g. 127.0.0.1:8080)`);
  return { host: (match[1] ?? match[2])!, port };
}

/** A client secret must be base64 of 32 bytes (UID2-SPEC §2.1). */
export function checkClientSecret(secret: string, option: string): string {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(secret)) throw new UsageError(`${option}: a client secret is base64 of 32 bytes (44 characters)`);
  return secret;
}
