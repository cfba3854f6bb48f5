// The JSON Schemas of schemas/, each compiled once, on first use: one per endpoint answer (`answer.<name>.schema.json`,
// what OP-SCHEMA judges), the driver protocol's messages (`driver.schema.json`, one definition each) and the report's.
// Problems are reported by location and rule, never by value, so a message can never carry DII, a token or a raw
// UID2 (only the schema's own words and the answer's paths).
import { readdirSync, readFileSync } from 'node:fs';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import { lazy } from '../lazy.ts';
import { kitFile } from '../paths.ts';

const ajvModule = lazy<typeof import('ajv')>('ajv');
const ajvFormats = lazy<typeof import('ajv-formats')>('ajv-formats');

export const SCHEMA_DIR = kitFile('schemas');

/** The endpoint answers that have a schema; `error` is every non-200 answer with a body. */
export const ANSWER_SCHEMAS = [
  'token-generate',
  'token-refresh',
  'token-validate',
  'token-logout',
  'token-client-generate',
  'identity-map-v2',
  'identity-map-v3',
  'optout-status',
  'key-bidstream',
  'key-sharing',
  'error',
] as const;
export type AnswerSchema = (typeof ANSWER_SCHEMAS)[number];

/** The schema of each endpoint's HTTP 200 answer, by request path. */
export const ANSWER_SCHEMA_OF_PATH: Readonly<Record<string, Exclude<AnswerSchema, 'error'>>> = {
  '/v2/token/generate': 'token-generate',
  '/v2/token/refresh': 'token-refresh',
  '/v2/token/validate': 'token-validate',
  '/v2/token/logout': 'token-logout',
  '/v2/token/client-generate': 'token-client-generate',
  '/v2/identity/map': 'identity-map-v2',
  '/v3/identity/map': 'identity-map-v3',
  '/v2/optout/status': 'optout-status',
  '/v2/key/bidstream': 'key-bidstream',
  '/v2/key/sharing': 'key-sharing',
};

/** At most this many problems per answer; the rest are counted. */
const MAX_PROBLEMS = 8;

let ajv: Ajv | undefined;
/** Schema files by name (without `.schema.json`), compiled on first use: a run pays only for the answers it sees. */
let files: Map<string, { file: string; validate?: ValidateFunction }> | undefined;

function schemaFiles(): Map<string, { file: string; validate?: ValidateFunction }> {
  if (!files) {
    files = new Map(
      readdirSync(SCHEMA_DIR)
        .filter((f) => f.endsWith('.schema.json'))
        .sort()
        .map((file) => [file.slice(0, -'.schema.json'.length), { file }]),
    );
    for (const name of ANSWER_SCHEMAS) if (!files.has(`answer.${name}`)) throw new Error(`schemas/answer.${name}.schema.json is missing`);
  }
  return files;
}

function compiled(name: string): ValidateFunction {
  const entry = schemaFiles().get(name);
  if (!entry) throw new Error(`no schema named ${name} in schemas/`);
  if (!entry.validate) {
    if (!ajv) {
      ajv = new (ajvModule().Ajv)({ allErrors: true, strict: true, strictRequired: false });
      ajvFormats().default(ajv);
    }
    const schema = JSON.parse(readFileSync(kitFile('schemas', entry.file), 'utf8')) as object;
    try {
      entry.validate = ajv.compile(schema);
    } catch (e) {
      throw new Error(`schemas/${entry.file} does not compile: ${(e as Error).message}`);
    }
  }
  return entry.validate;
}

/** Every schema file of schemas/, compiled, by its name without `.schema.json`; throws if one does not compile. */
export function compiledSchemas(): ReadonlyMap<string, ValidateFunction> {
  return new Map([...schemaFiles().keys()].map((name) => [name, compiled(name)]));
}

/** One problem as `<where> <what>`; an if/then/else wrapper error adds nothing to the errors under it. */
function describe(errors: readonly ErrorObject[]): string[] {
  // The name of an unexpected property is a key, never a value: safe to show, and what the reader needs.
  const extra = (e: ErrorObject) => (e.keyword === 'additionalProperties' ? ` ("${(e.params as { additionalProperty?: string }).additionalProperty}")` : '');
  const lines = errors.filter((e) => e.keyword !== 'if').map((e) => `${e.instancePath || '(top level)'} ${e.message ?? `fails ${e.keyword}`}${extra(e)}`);
  const unique = [...new Set(lines)];
  return unique.length > MAX_PROBLEMS ? [...unique.slice(0, MAX_PROBLEMS), `… ${unique.length - MAX_PROBLEMS} more`] : unique;
}

/** Validates a schema file's instance by the file's name (`report`, `answer.token-generate`). */
export function validateWith(name: string, json: unknown): string[] {
  const validate = compiled(name);
  return validate(json) ? [] : describe(validate.errors ?? []);
}

/** The driver protocol's messages (PROTOCOL.md §3), as named in schemas/driver.schema.json's definitions. */
export const DRIVER_MESSAGES = [
  'identity',
  'tick-request',
  'bid-request',
  'sync-request',
  'share-request',
  'roles-answer',
  'token-answer',
  'ack-answer',
  'bid-answer',
  'sync-answer',
  'share-answer',
] as const;
export type DriverMessage = (typeof DRIVER_MESSAGES)[number];

const driverMessages = new Map<DriverMessage, ValidateFunction>();

/** Problems of a driver request or answer against its definition in schemas/driver.schema.json; empty when it matches. */
export function validateDriverMessage(message: DriverMessage, json: unknown): string[] {
  let validate = driverMessages.get(message);
  if (!validate) {
    const id = (compiled('driver').schema as { $id: string }).$id;
    validate = ajv!.getSchema(`${id}#/definitions/${message}`);
    if (!validate) throw new Error(`schemas/driver.schema.json has no definition ${message}`);
    driverMessages.set(message, validate);
  }
  return validate(json) ? [] : describe(validate.errors ?? []);
}

/** Problems of an endpoint answer against `schemas/answer.<name>.schema.json`; empty when it matches. */
export function validateAnswer(name: AnswerSchema, json: unknown): string[] {
  return validateWith(`answer.${name}`, json);
}
