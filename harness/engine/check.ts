// What a check is, and what it gets to work with. Suites define checks; the runner runs them.
import type { Evidence, Status } from './result.ts';
import type { RecordingApi } from './recording.ts';
import type { Population } from './population.ts';
import type { Oracle } from '../oracle/oracle.ts';
import type { AnswerLedger } from './ledger.ts';
import { findRule, RETIRED_RULES, type Rule } from '../rules.ts';

/** What a target must offer for a check to apply; without it the check is not_applicable. */
export type Capability =
  /** OPTOUT credentials: the kit can register fresh global opt-outs. */
  | 'optout'
  /** A CSTG key pair. */
  | 'cstg'
  /** Synthetic identities may be sent (not a production host). */
  | 'synthetic'
  /** A participant's driver plays this role (`GET /` on the driver). */
  | 'publisher'
  | 'dsp'
  | 'advertiser'
  | 'sharer'
  /** The DSP gave its opt-out webhook (--webhook). */
  | 'webhook';

export interface CheckSettings {
  /** Bound of OP-PROPAGATION: from the logout acknowledgement to visibility on every endpoint. */
  propagationTimeoutMs: number;
  /** How long answers must report an opt-out without a flip before it counts as settled (default 0: the first report). */
  settleMs?: number;
  /** How long a held expectation is watched for a regression. */
  watchMs: number;
  pollIntervalMs: number;
  /** Property-based budget: generated cases per property. */
  runs: number;
  seed: number;
}

export interface CheckContext {
  /** The operator client with the GENERATOR, MAPPER, SHARER and ID_READER roles, recording evidence. */
  api: RecordingApi;
  /** The OPTOUT client, when the target gave OPTOUT credentials. */
  optoutApi?: RecordingApi;
  cstg?: { publicKey: string; subscriptionId: string };
  /** What the target offers (a check that needs one declares it in `needs`; others may adapt). */
  capabilities: ReadonlySet<Capability>;
  /** The identities of the run, opted out (or kept in) before the checks start. */
  population: Population;
  oracle: Oracle;
  settings: CheckSettings;
  /** Replay of a property failure: the fast-check path to rerun. */
  replayPath?: string;
  /** When the check's timeout ends it (ms since the epoch). */
  stopsAt: number;
  /** Every answer of the run so far, schema-validated (read by the OP-SCHEMA check that runs last). */
  ledger: AnswerLedger;
  /** Adds a free-text line to this check's evidence (never a secret, token, raw UID2 or DII). */
  note(text: string): void;
}

/** What a check concludes; thrown (CheckStop) or returned. */
export interface Verdict {
  status: Status;
  message: string;
  /** Property checks: how to replay the failure. */
  counterexample?: { seed: number; path: string; value: string };
}

export class CheckStop extends Error {
  constructor(readonly verdict: Verdict) {
    super(verdict.message);
    this.name = 'CheckStop';
  }
}

/** The target broke the rule. */
export function fail(message: string, counterexample?: Verdict['counterexample']): never {
  throw new CheckStop({ status: 'fail', message, ...(counterexample ? { counterexample } : {}) });
}

/**
 * The rule cannot be judged on this participant for a reason another rule judges (e.g. a DSP that targets
 * nobody: DSP-BID-ISOLATION fails it); never a pass.
 */
export function notApplicable(message: string): never {
  throw new CheckStop({ status: 'not_applicable', message });
}

/** The kit could not decide (never a pass). */
export function undecided(message: string): never {
  throw new CheckStop({ status: 'error', message });
}

export interface Check<C = CheckContext> {
  /** Stable, dotted: `<area>.<what>`; unique in the registry. */
  id: string;
  /** Exactly one rule ID of RULES.md. */
  rule: string;
  kind: 'scenario' | 'property';
  needs: readonly Capability[];
  /** Runs after every other check has finished (it judges what they saw). */
  last?: boolean;
  /** One line for `list` and the reports. */
  title: string;
  /** Resolves with the pass message; throws CheckStop (fail, undecided) otherwise. */
  run(ctx: C): Promise<string>;
}

export type { Evidence };

/**
 * A registry's invariants: unique ids, and each check names a rule of the catalog that `ruleProblem` accepts
 * for this registry (it answers why not, or undefined).
 */
export function registryProblems<C>(checks: readonly Check<C>[], ruleProblem: (check: Check<C>, rule: Rule) => string | undefined): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const check of checks) {
    if (seen.has(check.id)) problems.push(`duplicate check id ${check.id}`);
    seen.add(check.id);
    const rule = findRule(check.rule);
    const problem = rule ? ruleProblem(check, rule) : `names ${RETIRED_RULES.has(check.rule) ? 'retired' : 'unknown'} rule ${check.rule}`;
    if (problem) problems.push(`${check.id} ${problem}`);
  }
  return problems;
}
