// The command line of PROTOCOL.md §1. Exit codes (§2): 0 pass, 1 a rule failed, 2 could not test (or incomplete), 130 SIGINT, 143 SIGTERM.
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { checkClientSecret, parseDuration, parseListen, TargetError, UsageError } from './config.ts';
import { MANIFEST, readPublicKey, SIGNATURE, verifyReportDir } from '../reports/manifest.ts';
import { OPERATOR_FAULTS, findOperatorFault, type OperatorFaultName } from './operator/faults.ts';
import { startOperator, type OperatorCredentials } from './operator/index.ts';
import { cstgKeyPairFromPrivate, generateCstgKeyPair } from './operator/operator.ts';
import { findOperatorVariant, OPERATOR_VARIANTS, type OperatorVariantName } from './operator/variants.ts';
import { findRule, RULES } from './rules.ts';
import { kitFile } from './paths.ts';
import { validateWith } from './engine/schemas.ts';
import { PAGE_RUN_DEFAULTS, positiveInteger, RUN_DEFAULTS, runCommand, type RunOptions } from './run.ts';
import { calibrate, calibrateParticipants, expectedFailures } from './calibrate.ts';
import { mergeCommand } from './merge.ts';
import { PARTICIPANT_FAULTS } from './participants/reference.ts';
import { PARTICIPANT_CHECKS } from '../suites/participants.ts';
import type { CheckResult } from './engine/result.ts';
import { OPERATOR_CHECKS } from '../suites/operator/index.ts';
import { servePages } from './page/reference/serve.ts';
import { findPageFault, PAGE_FAULTS } from './page/reference/pages.ts';
import { calibratePages, PagesUnavailableError } from './page/reference/session.ts';
import { DEFAULT_OPERATOR_BASE } from './page/reference/server.ts';

export const EXIT = { pass: 0, fail: 1, error: 2, interrupted: 130 } as const;

const pkg = JSON.parse(readFileSync(kitFile('package.json'), 'utf8')) as { name: string; version: string };
const kit = { name: pkg.name, version: pkg.version };

const CREDENTIAL_LABELS: Record<keyof OperatorCredentials, string> = {
  apiKey: 'api-key',
  clientSecret: 'client-secret',
  optoutApiKey: 'optout-api-key',
  optoutClientSecret: 'optout-client-secret',
  cstgPublicKey: 'cstg-public-key',
  cstgSubscriptionId: 'cstg-subscription-id',
};

function faultOption(name: string | undefined): OperatorFaultName | undefined {
  if (name === undefined) return undefined;
  if (!findOperatorFault(name)) throw new UsageError(`--fault: unknown fault "${name}" (see: uid2-conformance list --faults)`);
  return name as OperatorFaultName;
}

interface ServeOptions {
  listen: string;
  apiKey?: string;
  clientSecret?: string;
  optoutApiKey?: string;
  optoutClientSecret?: string;
  propagationDelay: string;
  cstgPublicKey?: string;
  cstgPrivateKey?: string;
  cstgSubscriptionId?: string;
  cstgOrigin: string[];
  fault?: string;
  variant?: string;
  refreshAfter?: string;
  identityExpiresAfter?: string;
  refreshExpiresAfter?: string;
  instances: string;
  syncInterval?: string;
}

async function serveOperator(options: ServeOptions): Promise<void> {
  const listen = parseListen(options.listen, '--listen');
  const subscription = options.cstgSubscriptionId;
  let cstg = options.cstgPrivateKey ? cstgKeyPairFromPrivateOption(options.cstgPrivateKey, subscription ?? 'sub-local') : undefined;
  if (options.cstgPublicKey && cstg?.publicKey !== options.cstgPublicKey) {
    throw new UsageError('--cstg-public-key: the operator needs the matching --cstg-private-key (base64 PKCS#8) to decrypt CSTG requests');
  }
  if (!cstg && subscription) cstg = generateCstgKeyPair(subscription);
  const lifetime = (text: string | undefined, option: string) => (text === undefined ? undefined : parseDuration(text, option));
  const variant = options.variant === undefined ? undefined : findOperatorVariant(options.variant);
  if (options.variant !== undefined && !variant) throw new UsageError(`--variant: unknown variant "${options.variant}" (see: uid2-conformance list --faults)`);
  const running = await startOperator({
    ...variant?.operator,
    ...listen,
    apiKey: options.apiKey,
    clientSecret: options.clientSecret && checkClientSecret(options.clientSecret, '--client-secret'),
    optoutApiKey: options.optoutApiKey,
    optoutClientSecret: options.optoutClientSecret && checkClientSecret(options.optoutClientSecret, '--optout-client-secret'),
    cstg,
    cstgOrigins: options.cstgOrigin.length > 0 ? options.cstgOrigin : variant?.operator.cstgOrigins,
    propagationDelayMs: parseDuration(options.propagationDelay, '--propagation-delay'),
    fault: faultOption(options.fault),
    instances: positiveInteger(options.instances, '--instances'),
    syncIntervalMs: options.syncInterval === undefined ? undefined : parseDuration(options.syncInterval, '--sync-interval'),
    lifetimes: {
      refreshAfterMs: lifetime(options.refreshAfter, '--refresh-after') ?? variant?.operator.lifetimes?.refreshAfterMs,
      identityExpiresAfterMs: lifetime(options.identityExpiresAfter, '--identity-expires-after') ?? variant?.operator.lifetimes?.identityExpiresAfterMs,
      refreshExpiresAfterMs: lifetime(options.refreshExpiresAfter, '--refresh-expires-after') ?? variant?.operator.lifetimes?.refreshExpiresAfterMs,
    },
  }).catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot listen on ${options.listen}: ${e.code ?? e.message}`);
  });
  // Credentials the kit made itself go to stderr, once, for the user to configure (PROTOCOL.md §1).
  for (const name of running.generated) process.stderr.write(`${CREDENTIAL_LABELS[name]}: ${running.credentials[name]}\n`);
  const fleet = running.instances.length > 1 ? ` (${running.instances.length} instances${options.syncInterval ? `, each syncing opt-outs every ${options.syncInterval}` : ''})` : '';
  process.stderr.write(`simulated UID2 operator${fleet}${options.fault ? ` with fault ${options.fault}` : ''}${variant ? ` in variant ${variant.name}` : ''}; stop with Ctrl-C\n`);
  process.stdout.write(`listening ${running.url}\n`);
  const stop = () => void running.close().then(() => process.exit(EXIT.pass));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function cstgKeyPairFromPrivateOption(privateKey: string, subscription: string) {
  try {
    return cstgKeyPairFromPrivate(privateKey, subscription);
  } catch {
    throw new UsageError('--cstg-private-key: not a base64 PKCS#8 P-256 private key');
  }
}

/**
 * `list`: the rule catalog with the checks covering each rule (PROTOCOL.md §1), or the named faults and conformant
 * variants (`kind`); `--json` for scripts.
 */
function listCommand(options: { faults?: boolean; json?: boolean }): void {
  const print = (text: string): void => void process.stdout.write(`${text}\n`);
  if (options.faults) {
    const pageFaults = PAGE_FAULTS.map((f) => ({ ...f, description: `page ${f.page}: ${f.description}` }));
    const faults = [...OPERATOR_FAULTS.map((f) => ({ ...f, role: 'operator' })), ...PARTICIPANT_FAULTS, ...pageFaults].map(({ name, role, breaks, description }) => ({ kind: 'fault', name, role, breaks, description }));
    const variants = OPERATOR_VARIANTS.map(({ name, description }) => ({ kind: 'variant', name, role: 'operator', breaks: [] as string[], description }));
    const entries = [...faults, ...variants];
    if (options.json) return print(JSON.stringify(entries, null, 2));
    // A variant breaks nothing: its column says so, the run must pass it.
    for (const entry of entries) print(`${entry.name.padEnd(38)} ${(entry.kind === 'variant' ? 'variant: breaks none' : entry.breaks.join(',')).padEnd(24)} ${entry.description}`);
    return;
  }
  const checks = [...OPERATOR_CHECKS, ...PARTICIPANT_CHECKS];
  const catalog = RULES.map((rule) => ({ ...rule, checks: checks.filter((c) => c.rule === rule.id).map(({ id, kind, title }) => ({ id, kind, title })) }));
  if (options.json) return print(JSON.stringify(catalog, null, 2));
  for (const rule of catalog) {
    print(`${rule.id.padEnd(26)} ${rule.severity.padEnd(7)} ${rule.role.padEnd(11)} ${rule.summary}`);
    for (const check of rule.checks) print(`    ${check.kind.padEnd(9)} ${check.id}: ${check.title}`);
  }
}

const collect = (value: string, previous: string[]) => [...previous, value];
const collectTargets = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/**
 * `calibrate`: every named fault must fail exactly its rules, and the conformant operator, plain and in every
 * named variant, must pass. `--fault` (or `--variant`) picks faults and variants by name.
 */
async function calibrateCommand(options: { fault: string[]; variant: string[]; check: string[]; conformantRuns: string; seed: string; runs: string }): Promise<number> {
  const names = [...options.fault, ...options.variant];
  const unknown = names.filter((f) => !findOperatorFault(f) && !PARTICIPANT_FAULTS.some((p) => p.name === f) && !findPageFault(f) && !findOperatorVariant(f));
  if (unknown.length > 0) throw new UsageError(`--fault: unknown fault or variant ${unknown.join(', ')} (see: uid2-conformance list --faults)`);
  const selected = <T extends { id: string }>(checks: readonly T[]) => checks.filter((c) => options.check.length === 0 || options.check.some((p) => c.id.startsWith(p)));
  const operatorChecks = selected(OPERATOR_CHECKS);
  const participantChecks = selected(PARTICIPANT_CHECKS);
  if (operatorChecks.length + participantChecks.length === 0) throw new UsageError('--check: no check matches');
  const picked = names.length > 0;
  const operatorFaults = names.filter((f) => findOperatorFault(f)) as OperatorFaultName[];
  const variants = names.filter((f) => findOperatorVariant(f)) as OperatorVariantName[];
  const participantFaults = PARTICIPANT_FAULTS.filter((p) => names.includes(p.name));
  const pageFaults = PAGE_FAULTS.filter((p) => names.includes(p.name));
  const pageChecks = participantChecks.filter((c) => findRule(c.rule)?.role === 'publisher');
  const unseen = [
    ...operatorFaults.filter((f) => expectedFailures(findOperatorFault(f)!.breaks, operatorChecks).length === 0),
    ...[...participantFaults, ...pageFaults].filter((p) => expectedFailures(p.breaks, participantChecks).length === 0).map((p) => p.name),
  ];
  if (unseen.length > 0) throw new UsageError(`--check: no selected check judges a rule that fault ${unseen.join(', ')} breaks`);
  const conformantRuns = picked ? 0 : Number(options.conformantRuns);
  const print = (row: { fault?: string; variant?: string; ok: boolean; expected: string[]; failed: string[]; undecided: string[]; results: CheckResult[] }) => {
    const name = row.fault ?? (row.variant ? `variant ${row.variant}` : 'conformant');
    process.stdout.write(`${row.ok ? 'OK  ' : 'MISS'} ${name.padEnd(40)} expected [${row.expected.join(', ')}] failed [${row.failed.join(', ')}]\n`);
    for (const line of row.undecided) process.stdout.write(`       undecided: ${line}\n`);
    if (!row.ok) for (const r of row.results.filter((r) => r.status === 'fail' || r.status === 'warn')) process.stdout.write(`       ${r.status} ${r.rule} ${r.check}: ${r.message}\n`);
  };
  const rows: Array<{ ok: boolean }> = [];
  if (operatorChecks.length > 0 && (!picked || operatorFaults.length + variants.length > 0)) {
    rows.push(
      ...(await calibrate({
        checks: operatorChecks,
        faults: picked ? operatorFaults : undefined,
        variants: picked ? variants : undefined,
        conformantRuns,
        variantRuns: picked ? Number(options.conformantRuns) : conformantRuns,
        settings: { seed: Number(options.seed), runs: Number(options.runs) },
        onRow: print,
      })),
    );
  }
  if (participantChecks.length > 0 && (!picked || participantFaults.length > 0)) {
    rows.push(...(await calibrateParticipants({ checks: participantChecks, faults: picked ? participantFaults : undefined, conformantRuns, seed: Number(options.seed), runs: Number(options.runs), onRow: print })));
  }
  // The reference pages through the browser: conformant, and with each page fault.
  if (pageChecks.length > 0 && (!picked || pageFaults.length > 0)) {
    const pages = await calibratePages({ checks: pageChecks, faults: picked ? pageFaults : undefined, conformant: !picked, seed: Number(options.seed), runs: Number(options.runs), onRow: print }).catch((e: unknown) => {
      throw e instanceof PagesUnavailableError ? new UsageError(`the page faults need the reference pages: ${e.message}`) : e;
    });
    rows.push(...pages);
  }
  const missed = rows.filter((r) => !r.ok).length;
  process.stdout.write(`${rows.length - missed} of ${rows.length} calibration runs as expected\n`);
  return missed === 0 ? EXIT.pass : EXIT.fail;
}

/** The options `run` and `replay` share (PROTOCOL.md §1), each also settable from its environment variable. */
function addRunOptions(command: Command): Command {
  return command
    .addOption(new Option('--target <url>', 'the operator under test (repeatable: a fleet run; NAME=URL names it)').env('UID2_TARGET').argParser(collectTargets))
    .addOption(new Option('--driver <url>', "a participant's driver endpoint (PROTOCOL.md §3)").env('UID2_DRIVER'))
    .addOption(new Option('--page <url>', "role publisher: the publisher's page, driven in Chromium by --journey").env('UID2_PAGE'))
    .addOption(new Option('--journey <file>', 'the journey module of --page: how a user logs in, opts out of the site, logs out').env('UID2_JOURNEY'))
    .addOption(new Option('--chromium <path>', 'the Chromium of --page (default: Debian\'s chromium-headless-shell, else /usr/bin/chromium)').env('UID2_CHROMIUM'))
    .addOption(new Option('--open-pages <n>', `browser tabs a page run keeps open: each about 55 MB, fewer cost time (default ${PAGE_RUN_DEFAULTS.openPages})`).env('UID2_OPEN_PAGES'))
    .addOption(new Option('--operator-host <host>', "with --page: a UID2 operator host the page's requests to are answered by the kit's operator (repeatable; default the UID2 and EUID hosts)").env('UID2_OPERATOR_HOSTS').argParser(collect).default([]))
    .addOption(new Option('--operator-listen <host:port>', "where the kit's operator listens for the participant under test").env('UID2_OPERATOR_LISTEN'))
    .addOption(new Option('--webhook <template>', "the DSP's opt-out webhook, with {uid2} and {timestamp}").env('UID2_WEBHOOK'))
    .addOption(new Option('--webhook-method <method>', 'GET or POST').choices(['GET', 'POST']).default('GET'))
    .addOption(new Option('--refresh-after <duration>', "participant roles: refresh_from of the kit's tokens (default 1s)"))
    .addOption(new Option('--identity-expires-after <duration>', 'participant roles: advertising token lifetime (default 4s)'))
    .addOption(new Option('--refresh-expires-after <duration>', `participant roles: refresh token lifetime (default 12s; a page run ${PAGE_RUN_DEFAULTS.refreshExpiresAfterMs / 1000}s)`))
    .addOption(new Option('--api-key <key>', 'client API key').env('UID2_API_KEY'))
    .addOption(new Option('--client-secret <secret>', 'client secret (base64 of 32 bytes)').env('UID2_CLIENT_SECRET'))
    .addOption(new Option('--optout-api-key <key>', 'API key with the OPTOUT role').env('UID2_OPTOUT_API_KEY'))
    .addOption(new Option('--optout-client-secret <secret>', 'its client secret').env('UID2_OPTOUT_CLIENT_SECRET'))
    .addOption(new Option('--cstg-public-key <key>', 'CSTG server public key (UID2-X-...)').env('UID2_CSTG_PUBLIC_KEY'))
    .addOption(new Option('--cstg-subscription-id <id>', 'CSTG subscription id').env('UID2_CSTG_SUBSCRIPTION_ID'))
    .addOption(new Option('--cstg-origin <url>', "Origin of client-generate requests: one of the CSTG site's domains").env('UID2_CSTG_ORIGIN'))
    .addOption(new Option('--propagation-timeout <duration>', `bound of OP-PROPAGATION (default ${RUN_DEFAULTS.propagationTimeout}; with --target ${RUN_DEFAULTS.targetPropagationTimeout})`).env('UID2_PROPAGATION_TIMEOUT'))
    .addOption(new Option('--settle <duration>', `how long answers must report an opt-out without a flip before every answer must (default ${RUN_DEFAULTS.settle}; with --target ${RUN_DEFAULTS.targetSettle}, at least a sync interval of the target's instances)`).env('UID2_SETTLE'))
    .addOption(new Option('--watch <duration>', 'how long a held opt-out is watched for a regression (default: 2s, at most the propagation timeout)'))
    .addOption(new Option('--timeout <duration>', 'per-request timeout').default(RUN_DEFAULTS.timeout))
    .addOption(new Option('--deadline <duration>', 'whole-run deadline: no check starts after it').default(RUN_DEFAULTS.deadline))
    .addOption(new Option('--concurrency <n>', `checks running at once (default ${RUN_DEFAULTS.concurrency}; a page run ${PAGE_RUN_DEFAULTS.concurrency})`))
    .addOption(new Option('--runs <n>', `generated cases per property (default ${RUN_DEFAULTS.runs}; a page run ${PAGE_RUN_DEFAULTS.runs})`))
    .addOption(new Option('--allow-production', 'allow a production operator host (test identities only)'))
    .addOption(new Option('--strict', 'SHOULD rules fail the run too'))
    .addOption(new Option('--baseline <file>', 'known failures accepted until a date, JSON or YAML (schemas/baseline.schema.json)').env('UID2_BASELINE'))
    .addOption(new Option('--seed <n>', 'property-based seed'))
    .addOption(new Option('--pages', 'the embedded default must drive the reference publisher pages in Chromium (it does by default when Chromium is here)').env('UID2_PAGES'))
    .addOption(new Option('--no-pages', 'the embedded default leaves the reference publisher pages out').env('UID2_NO_PAGES'))
    .addOption(new Option('--out <dir>', 'report directory').env('UID2_OUT').default(RUN_DEFAULTS.out))
    .addOption(new Option('--sign-key <file>', 'Ed25519 private key (PEM): also write manifest.sig, a signature of manifest.json').env('UID2_SIGN_KEY'))
    .option('--config <file>', 'a JSON file with these options by their long names (schemas/config.schema.json)')
    .hook('preAction', (command) => applyConfigFile(command));
}

/**
 * `--config FILE`: options by their long names, validated against schemas/config.schema.json. A flag or an
 * environment variable wins over the file; the file wins over the defaults.
 */
function applyConfigFile(command: Command): void {
  const file = command.getOptionValue('config') as string | undefined;
  if (file === undefined) return;
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? 'not valid JSON';
    throw new UsageError(`--config ${file}: cannot read it (${reason})`);
  }
  const problems = validateWith('config', config);
  if (problems.length > 0) throw new UsageError(`--config ${file}: ${problems.join('; ')}`);
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    const name = key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    // --target (a flag or UID2_TARGET) wins over the file's targets, as over its target.
    if (name === 'targets' && ['cli', 'env'].includes(command.getOptionValueSource('target') ?? '')) continue;
    const source = command.getOptionValueSource(name);
    if (source !== undefined && source !== 'default') continue;
    command.setOptionValueWithSource(name, typeof value === 'number' ? String(value) : value, 'config');
  }
}

/** The failed property case of a report: its check, the run seed and the fast-check path. */
function replayCase(file: string, checkId: string | undefined): { checkId: string; seed: number; path: string } {
  let report: { seed?: unknown; results?: Array<{ check?: string; status?: string; counterexample?: { path?: string } }> };
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: cannot read a report (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const candidates = (report.results ?? []).filter((r) => r.counterexample?.path && (checkId === undefined || r.check === checkId));
  if (typeof report.seed !== 'number') throw new UsageError(`${file}: the report has no seed`);
  if (candidates.length === 0) throw new UsageError(`${file}: no failed property check${checkId ? ` named ${checkId}` : ''} with a counterexample to replay`);
  if (candidates.length > 1) throw new UsageError(`${file}: several failed property checks; pick one with --check (${candidates.map((c) => c.check).join(', ')})`);
  return { checkId: candidates[0]!.check!, seed: report.seed, path: candidates[0]!.counterexample!.path! };
}

export function buildProgram(): Command {
  const program = new Command()
    .name('uid2-conformance')
    .description('Conformance kit for the UID2 opt-out rules')
    .version(pkg.version)
    .exitOverride()
    .showHelpAfterError();

  const run = program
    .command('run')
    .description('run the suites; with no target, against the embedded simulated operator')
    .addOption(new Option('--role <role>', 'operator|publisher|dsp|advertiser|sharer (repeatable)').env('UID2_ROLE').argParser(collect).default([]));
  addRunOptions(run).action(async (options: RunOptions) => {
    process.exitCode = await runCommand(options, kit);
  });

  const replay = program
    .command('replay')
    .description('rerun one failed property check exactly (same seed and path), against the same or another --target')
    .argument('<report>', 'the report.json of the run that failed')
    .option('--check <id>', 'which failed check, when the report has several');
  addRunOptions(replay).action(async (file: string, options: RunOptions & { check?: string }) => {
    const { checkId, seed, path } = replayCase(file, options.check);
    const operatorCheck = OPERATOR_CHECKS.find((c) => c.id === checkId);
    const participantCheck = PARTICIPANT_CHECKS.find((c) => c.id === checkId);
    if (!operatorCheck && !participantCheck) throw new UsageError(`${file}: check ${checkId} is not in this version of the kit`);
    process.stderr.write(`replaying ${checkId} with seed ${seed} and path ${path}\n`);
    const role = operatorCheck ? 'operator' : findRule(participantCheck!.rule)!.role;
    process.exitCode = await runCommand({ ...options, role: [role], seed: String(seed) }, kit, {
      checks: operatorCheck ? [operatorCheck] : [],
      participantChecks: participantCheck ? [participantCheck] : [],
      replayPaths: new Map([[checkId, path]]),
    });
  });

  program
    .command('merge')
    .description('combine the report.json files of parallel runs (a CI matrix over targets or roles) into one report, as a fleet run writes it')
    .argument('<reports...>', 'report.json files')
    .addOption(new Option('--out <dir>', 'report directory').env('UID2_OUT').default(RUN_DEFAULTS.out))
    .addOption(new Option('--sign-key <file>', 'an Ed25519 private key (PEM): also write manifest.sig').env('UID2_SIGN_KEY'))
    .action(async (files: string[], options: { out: string; signKey?: string }) => {
      process.exitCode = await mergeCommand(files, options.out, options.signKey);
    });

  program
    .command('serve-operator')
    .description('start the simulated UID2 operator alone')
    .option('--listen <host:port>', 'where to listen', '127.0.0.1:0')
    .option('--api-key <key>', 'client API key it accepts (GENERATOR, MAPPER, SHARER, ID_READER)')
    .option('--client-secret <secret>', 'its client secret (base64 of 32 bytes)')
    .option('--optout-api-key <key>', 'API key with the OPTOUT role')
    .option('--optout-client-secret <secret>', 'its client secret')
    .option('--propagation-delay <duration>', 'delay before an opt-out is visible', '0ms')
    .option('--cstg-public-key <key>', 'CSTG public key it accepts (needs --cstg-private-key)')
    .option('--cstg-private-key <key>', 'CSTG private key, base64 PKCS#8 (extension)')
    .option('--cstg-subscription-id <id>', 'CSTG subscription id')
    .option('--cstg-origin <origin>', 'allowed CSTG origin (repeatable; default: any)', collect, [])
    .option('--fault <name>', 'run one named fault (see list --faults)')
    .option('--variant <name>', 'run one named conformant variant (see list --faults)')
    .option('--refresh-after <duration>', 'refresh_from after issue (default 15m)')
    .option('--identity-expires-after <duration>', 'advertising token lifetime (default 1h)')
    .option('--refresh-expires-after <duration>', 'refresh token lifetime (default 24h)')
    .option('--instances <n>', 'a fleet: this many instances behind the port, a request each in turn, sharing opt-outs and token keys', '1')
    .option('--sync-interval <duration>', 'each instance syncs its own snapshot of the opt-outs this often, phases staggered (UID2-SPEC §1.4; default: live)')
    .action(serveOperator);

  program
    .command('serve-pages')
    .description("serve the kit's reference publisher pages (Prebid.js and the UID2/EUID SDK) for a page run; prints each page URL with its journey file")
    .option('--listen <host:port>', 'where to listen', '127.0.0.1:0')
    .addOption(new Option('--operator <url>', "the kit's operator the pages' server generates through (the run's --operator-listen)").env('UID2_OPERATOR'))
    .addOption(new Option('--api-key <key>', 'the API key that operator accepts').env('UID2_API_KEY'))
    .addOption(new Option('--client-secret <secret>', 'its client secret').env('UID2_CLIENT_SECRET'))
    .addOption(new Option('--cstg-public-key <key>', "the operator's CSTG public key (default: the one the kit's operator derives from --client-secret)").env('UID2_CSTG_PUBLIC_KEY'))
    .addOption(new Option('--cstg-subscription-id <id>', 'its CSTG subscription id').env('UID2_CSTG_SUBSCRIPTION_ID'))
    .option('--operator-base <url>', "the UID2 host the pages' JavaScript calls (the page driver routes it to the kit)", DEFAULT_OPERATOR_BASE)
    .option('--fault <name>', 'run one named page fault (see list --faults)')
    .action(servePages);

  program
    .command('list')
    .description('print the rule catalog with the checks covering each rule (or the named faults)')
    .option('--faults', 'list the named faults of the simulated operator and the reference participants, and its conformant variants')
    .option('--json', 'print JSON instead of text')
    .action(listCommand);

  program
    .command('calibrate')
    .description('run the suites against the simulated operator and reference participants: conformant, in each named variant, and with each named fault')
    .option('--fault <name>', 'only this fault or variant (repeatable)', collect, [])
    .option('--variant <name>', 'only this conformant variant (repeatable)', collect, [])
    .option('--check <prefix>', 'only checks whose id starts with this (repeatable)', collect, [])
    .option('--conformant-runs <n>', 'runs against the conformant operator and each variant', '1')
    .option('--seed <n>', 'property-based seed', '1')
    .option('--runs <n>', 'generated cases per property', '25')
    .action(async (options: { fault: string[]; variant: string[]; check: string[]; conformantRuns: string; seed: string; runs: string }) => {
      process.exitCode = await calibrateCommand(options);
    });

  program
    .command('verify')
    .description(`check a report directory against its ${MANIFEST}: every file's SHA-256, nothing else there, and with --public-key the signature in ${SIGNATURE}`)
    .argument('<dir>', 'the report directory')
    .addOption(new Option('--public-key <file>', `Ed25519 public key (PEM) that checks ${SIGNATURE}`).env('UID2_PUBLIC_KEY'))
    .action((dir: string, options: { publicKey?: string }) => {
      process.exitCode = verifyCommand(dir, options.publicKey);
    });

  return program;
}

/** `verify`: 0 when every hash (and the signature, with a key) holds, 1 naming the first mismatch. */
function verifyCommand(dir: string, publicKeyFile: string | undefined): number {
  const verdict = verifyReportDir(dir, publicKeyFile === undefined ? undefined : readPublicKey(publicKeyFile));
  if (!verdict.ok) {
    process.stdout.write(`MISMATCH: ${verdict.mismatch}\n`);
    return EXIT.fail;
  }
  const signature = {
    verified: `${SIGNATURE} verified with ${publicKeyFile}`,
    'not-checked': `${SIGNATURE} not checked (give --public-key)`,
    unsigned: `not signed (no ${SIGNATURE})`,
  }[verdict.signature];
  process.stdout.write(`VERIFIED: ${verdict.files} files match ${MANIFEST}; ${signature}\n`);
  return EXIT.pass;
}

/**
 * A reader that goes away (`list | head`, a closed CI log pipe) must neither crash the kit nor change its
 * verdict: output to that stream stops, the run and its exit code go on.
 */
function tolerateClosedOutput(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
  });
}

/**
 * `run` refused before it started (an unknown option, a bad --config): report.json says so too when --out is
 * usable (PROTOCOL.md §2), through the run's own ending. The message is already printed.
 */
async function reportRefusedRun(program: Command, argv: string[], message: string): Promise<void> {
  const run = program.commands.find((c) => c.name() === 'run');
  if (argv.slice(2).find((a) => !a.startsWith('-')) !== 'run' || !run) return;
  const options = { ...run.opts(), role: [] } as unknown as RunOptions;
  await runCommand({ ...options, out: options.out ?? RUN_DEFAULTS.out }, kit, { usageError: message }).catch(() => undefined);
}

async function main(argv: string[]): Promise<void> {
  tolerateClosedOutput(process.stdout);
  tolerateClosedOutput(process.stderr);
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? EXIT.pass : EXIT.error;
      if (e.exitCode !== 0) await reportRefusedRun(program, argv, e.message);
    } else if (e instanceof UsageError || e instanceof TargetError) {
      process.stderr.write(`uid2-conformance: ${e.message}\n`);
      process.exitCode = EXIT.error;
      await reportRefusedRun(program, argv, e.message);
    } else {
      // Never a stack trace for the user: one line (run writes its reports itself before anything reaches here).
      process.stderr.write(`uid2-conformance: unexpected error: ${(e as Error)?.message ?? e}\n`);
      process.exitCode = EXIT.error;
    }
  }
  // Reports are written: requests still in flight (a stopped run, a hung target) must not hold the exit back.
  const code = Number(process.exitCode ?? 0);
  if (code > EXIT.fail) process.exit(code);
}

await main(process.argv);
