// Which operators a run tests: `--target URL` (repeatable; `NAME=URL` names one) or `targets` in the config
// file, each with its own credential variables. A run of several targets is a fleet run: each target is
// checked in its own session and every result carries the target's name.
import { UsageError } from './config.ts';

/** The credentials of one target (run options by the same names). */
export interface TargetCredentials {
  apiKey?: string;
  clientSecret?: string;
  optoutApiKey?: string;
  optoutClientSecret?: string;
  cstgPublicKey?: string;
  cstgSubscriptionId?: string;
  cstgOrigin?: string;
}

/** One entry of `targets` in the config file (schemas/config.schema.json). */
export interface ConfigTarget {
  name?: string;
  url: string;
  'api-key-env'?: string;
  'client-secret-env'?: string;
  'optout-api-key-env'?: string;
  'optout-client-secret-env'?: string;
  'cstg-public-key-env'?: string;
  'cstg-subscription-id-env'?: string;
  'cstg-origin'?: string;
}

export interface TargetSpec extends TargetCredentials {
  name: string;
  url: string;
}

/** Each credential and the config key naming the environment variable it is read from. */
const CREDENTIAL_VARIABLES = {
  apiKey: 'api-key-env',
  clientSecret: 'client-secret-env',
  optoutApiKey: 'optout-api-key-env',
  optoutClientSecret: 'optout-client-secret-env',
  cstgPublicKey: 'cstg-public-key-env',
  cstgSubscriptionId: 'cstg-subscription-id-env',
} as const;

/** A target name the user gives: it goes into every result, JUnit suite and audit table. */
const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/** `--target eu=https://…`: a name, then the URL. */
const NAMED_TARGET = /^([A-Za-z0-9][A-Za-z0-9._:-]{0,63})=(.*)$/s;

/** The default name of a target: host:port of its URL (the text itself when it is no http(s) URL). */
export function defaultTargetName(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return `${parsed.hostname}:${parsed.port || (parsed.protocol === 'https:' ? '443' : '80')}`;
  } catch {
    // not a URL: named by its text (an embedded run's "embedded:simulated-operator")
  }
  return url;
}

/** `name`, or `name-2`, `name-3`… when it is taken; the name returned is added to `taken`. */
export function uniqueName(name: string, taken: Set<string>): string {
  let unique = name;
  for (let n = 2; taken.has(unique); n += 1) unique = `${name}-${n}`;
  taken.add(unique);
  return unique;
}

/**
 * The targets of a run, named, with their credentials: a target's own variable where its config entry names
 * one, else the run's option. Empty when the run has no target (the embedded operator). A variable that is
 * not set is a usage error naming it (never a value).
 */
export function targetSpecs(options: TargetCredentials & { target?: string | readonly string[]; targets?: readonly ConfigTarget[] }, env: NodeJS.ProcessEnv = process.env): TargetSpec[] {
  const given = options.target === undefined ? [] : typeof options.target === 'string' ? [options.target] : options.target;
  if (given.length > 0 && options.targets) throw new UsageError('--config: give the targets either as target or as targets, not both');
  const entries: ConfigTarget[] = options.targets
    ? [...options.targets]
    : given.map((text) => {
        const named = NAMED_TARGET.exec(text);
        return named ? { name: named[1], url: named[2]! } : { url: text };
      });
  const taken = new Set<string>();
  for (const entry of entries) {
    if (entry.name === undefined) continue;
    if (!TARGET_NAME.test(entry.name)) throw new UsageError(`target name "${entry.name}": use letters, digits, . _ : - (at most 64)`);
    if (taken.has(entry.name)) throw new UsageError(`target name "${entry.name}" is given twice: each target needs its own name`);
    taken.add(entry.name);
  }
  return entries.map((entry) => {
    const name = entry.name ?? uniqueName(defaultTargetName(entry.url), taken);
    const spec: TargetSpec = { name, url: entry.url, cstgOrigin: entry['cstg-origin'] ?? options.cstgOrigin };
    for (const [credential, key] of Object.entries(CREDENTIAL_VARIABLES) as Array<[keyof typeof CREDENTIAL_VARIABLES, string]>) {
      const variable = entry[key as keyof ConfigTarget];
      if (variable === undefined) {
        spec[credential] = options[credential];
        continue;
      }
      const value = env[variable];
      if (!value) throw new UsageError(`target ${name}: ${key} names the environment variable ${variable}, which is not set`);
      spec[credential] = value;
    }
    return spec;
  });
}
