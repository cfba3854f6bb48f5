// Model-based checks (fast-check `fc.commands` + `fc.asyncModelRun`), one per rule so that calibration stays
// clean: random sequences of fresh opt-outs interleaved with identity map v2, identity map v3 or generate
// requests, each answer judged by the oracle (harness/oracle/oracle.ts).
//
// The model is the list of identities the sequence knows: the run's controls and raw-logged-out subjects
// (opted out and visible before the checks start), plus fresh synthetic identities the sequence met or
// logged out itself. A fresh logout is registered in the oracle with its send and acknowledgement times.
// Pending: a logout inside a sequence is usually still propagating when the next command runs (the
// simulated operator of `calibrate` makes opt-outs visible only after 300 ms; real operators take minutes,
// UID2-SPEC §5.2). While the oracle says `pending`, either answer is accepted; once the opt-out settled
// (answers reported it for the settle window; with none, the first report), the oracle expects `out` from
// then on, so the model checks that a settled opt-out stays out (and, within one answer, that a pending
// person is not both opted out and mapped). The already-settled subjects make every sequence able to fail
// on the rule.
// Every Logout sends a never-before-logged-out identity, also when fast-check re-runs a sequence while
// shrinking: a repeated logout is OP-LOGOUT's and OP-PROPAGATION's business, not these rules'.
import fc from 'fast-check';
import { CheckStop, undecided, fail, type Check, type CheckContext } from '../../harness/engine/check.ts';
import type { Subject } from '../../harness/engine/population.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { base64Hash, SyntheticIdentities } from '../../harness/engine/synthetic.ts';
import type { PersonKey } from '../../harness/oracle/oracle.ts';
import { DII_FIELDS, type DiiField } from '../../harness/wire/dii.ts';
import { judgeMapV2, judgeMapV3, type MapEntry, type MapRequestEntries } from './map.ts';
import { isOptoutAnswer, isTokenAnswer, statusOf } from './support.ts';
import { quoteTarget } from '../../harness/engine/scrub.ts';

type Kind = 'email' | 'phone';

interface Known {
  label: string;
  kind: Kind;
  /** Normalized raw DII. */
  dii: string;
  person: PersonKey;
  /** A fresh identity of this sequence (not one of the run's population). */
  fresh: boolean;
  loggedOut: boolean;
}

interface Model {
  known: Known[];
  met: number;
}

type Real = Record<string, never>;
type Cmd = fc.AsyncCommand<Model, Real>;

interface Env {
  ctx: CheckContext;
  ids: SyntheticIdentities;
  /** Fresh opt-outs registered by the sequences (for the pass message). */
  logouts: number;
}

const kinds = fc.constantFrom<Kind>('email', 'phone');

function formOf(k: Known, hashed: boolean): MapEntry {
  if (!hashed) return { label: `${k.label} as ${k.kind}`, field: k.kind, value: k.dii, person: k.person };
  const field: DiiField = k.kind === 'email' ? 'email_hash' : 'phone_hash';
  return { label: `${k.label} as ${field}`, field, value: base64Hash(k.dii), person: k.person };
}

const ofKind = (m: Readonly<Model>, kind: Kind) => m.known.filter((k) => k.kind === kind);
const pickOf = <T>(list: readonly T[], pick: number): T => list[pick % list.length]!;

/** The run's controls and raw-logged-out subjects: visible opt-outs and persons never opted out. */
function initialKnown(ctx: CheckContext): Known[] {
  const fromPopulation = (s: Subject): Known => ({ label: s.label, kind: s.kind, dii: s.dii, person: s.person, fresh: false, loggedOut: false });
  const out = ctx.population.get('optedOut').filter((s) => !s.test && s.loggedOutAs?.field === s.kind && ctx.oracle.expect(s.person, 'map', Date.now()) === 'out');
  const controls = ctx.population.get('controls');
  for (const kind of ['email', 'phone'] as const) {
    if (!controls.some((s) => s.kind === kind)) undecided(`no ${kind} control in the population`);
  }
  return [...controls, ...out].map(fromPopulation);
}

// ------------------------------------------------------------------ commands shared by the three models

/** A fresh identity joins the sequence, never opted out (it must read opted in until a Logout). */
function meet(env: Env): fc.Arbitrary<Cmd> {
  return kinds.map(
    (kind): Cmd => ({
      check: () => true,
      async run(m) {
        const dii = kind === 'email' ? env.ids.email() : env.ids.phone();
        const person = env.ctx.oracle.person(kind, dii);
        if (!person) undecided('kit bug: a synthetic identity is invalid for the oracle');
        m.met += 1;
        m.known.push({ label: `fresh-${kind}-${m.met}`, kind, dii, person: person!, fresh: true, loggedOut: false });
      },
      toString: () => `Meet(${kind})`,
    }),
  );
}

/**
 * Logs out a fresh identity through /v2/token/logout (OPTOUT role): one the sequence met and has not logged
 * out yet when `pick` is given and there is one, else a new one. A failed logout leaves nothing to judge.
 */
function logout(env: Env): fc.Arbitrary<Cmd> {
  return fc.record({ kind: kinds, pick: fc.option(fc.nat({ max: 20 }), { nil: undefined }) }).map(({ kind, pick }): Cmd => {
    let described = `Logout(${kind})`;
    return {
      check: () => true,
      async run(m) {
        const candidates = ofKind(m, kind).filter((k) => k.fresh && !k.loggedOut);
        let target: Known;
        if (pick !== undefined && candidates.length > 0) target = pickOf(candidates, pick);
        else {
          const dii = kind === 'email' ? env.ids.email() : env.ids.phone();
          m.met += 1;
          target = { label: `fresh-${kind}-${m.met}`, kind, dii, person: env.ctx.oracle.person(kind, dii)!, fresh: true, loggedOut: false };
          m.known.push(target);
        }
        described = `Logout(${target.label})`;
        const sent = Date.now();
        const x = await env.ctx.optoutApi!.logout({ [kind]: target.dii } as never);
        if (x.http !== 200 || statusOf(x) !== 'success') undecided(`logout of ${target.label} answered HTTP ${x.http} ${quoteTarget(statusOf(x))}: the opt-out could not be registered (see OP-LOGOUT)`);
        env.ctx.oracle.registerOptOut(target.person, sent, Date.now());
        target.loggedOut = true;
        env.logouts += 1;
      },
      toString: () => described,
    };
  });
}

function mapV2(env: Env): fc.Arbitrary<Cmd> {
  return fc.record({ kind: kinds, hashed: fc.boolean(), picks: fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 6 }) }).map(({ kind, hashed, picks }): Cmd => {
    let described = `MapV2(${kind}${hashed ? ' hashed' : ''}, ${picks.length} inputs)`;
    return {
      check: (m) => ofKind(m, kind).length > 0,
      async run(m) {
        const entries = picks.map((p) => formOf(pickOf(ofKind(m, kind), p), hashed));
        described = `MapV2(${entries.map((e) => e.label).join(', ')})`;
        const sent = Date.now();
        const x = await env.ctx.api.mapV2({ [entries[0]!.field]: entries.map((e) => e.value) });
        judgeMapV2(env.ctx, entries, x, `v2 map of ${entries.length} inputs`, sent);
      },
      toString: () => described,
    };
  });
}

function mapV3(env: Env): fc.Arbitrary<Cmd> {
  const picks = fc.array(fc.nat({ max: 50 }), { maxLength: 4 });
  const request = fc.record({ email: picks, email_hash: picks, phone: picks, phone_hash: picks }).filter((r) => DII_FIELDS.some((f) => r[f].length > 0));
  return request.map((r): Cmd => {
    let described = `MapV3(${DII_FIELDS.filter((f) => r[f].length > 0).map((f) => `${f}×${r[f].length}`).join(', ')})`;
    return {
      check: () => true,
      async run(m) {
        const entries: MapRequestEntries = {};
        for (const f of DII_FIELDS) {
          if (r[f].length === 0) continue;
          const kind: Kind = f.startsWith('email') ? 'email' : 'phone';
          entries[f] = r[f].map((p) => formOf(pickOf(ofKind(m, kind), p), f.endsWith('_hash')));
        }
        described = `MapV3(${DII_FIELDS.filter((f) => entries[f]).map((f) => `${f}: ${entries[f]!.map((e) => e.label).join(', ')}`).join('; ')})`;
        const sent = Date.now();
        const x = await env.ctx.api.mapV3(Object.fromEntries(DII_FIELDS.filter((f) => entries[f]).map((f) => [f, entries[f]!.map((e) => e.value)])));
        judgeMapV3(env.ctx, entries, x, 'v3 map', sent);
      },
      toString: () => described,
    };
  });
}

/** Generate with optout_check 1, raw or base64-hashed field, judged by the oracle. */
function generate(env: Env): fc.Arbitrary<Cmd> {
  return fc.record({ kind: kinds, hashed: fc.boolean(), pick: fc.nat({ max: 50 }) }).map(({ kind, hashed, pick }): Cmd => {
    let described = `Generate(${kind}${hashed ? ' hashed' : ''})`;
    return {
      check: (m) => ofKind(m, kind).length > 0,
      async run(m) {
        const entry = formOf(pickOf(ofKind(m, kind), pick), hashed);
        described = `Generate(${entry.label})`;
        const { ctx } = env;
        const sent = Date.now();
        const x = await ctx.api.generate({ [entry.field]: entry.value, optout_check: 1 } as never);
        const expected = ctx.oracle.expect(entry.person, 'generate', sent);
        const seen = isOptoutAnswer(x) ? 'optout' : isTokenAnswer(x) ? 'tokens' : x.envelopeError ? `an answer that did not open (${x.envelopeError.reason})` : `HTTP ${x.http} ${quoteTarget(statusOf(x))}`;
        const ok = expected === 'out' ? seen === 'optout' : expected === 'in' ? seen === 'tokens' : seen === 'optout' || seen === 'tokens';
        if (!ok) {
          const wanted = expected === 'out' ? 'opted out: expected optout' : expected === 'in' ? 'never opted out: expected tokens' : 'opt-out pending: expected optout or tokens';
          fail(`generate for ${entry.label} (${wanted}) answered ${seen}`);
        }
        if (seen === 'optout') ctx.oracle.observedOut(entry.person, 'generate', Date.now());
        else ctx.oracle.observedIn(entry.person, 'generate', sent);
      },
      toString: () => described,
    };
  });
}

// ------------------------------------------------------------------ running a model

const MAX_COMMANDS = 8;

async function runModel(ctx: CheckContext, checkId: string, observe: (env: Env) => fc.Arbitrary<Cmd>): Promise<string> {
  const env: Env = { ctx, ids: new SyntheticIdentities(), logouts: 0 };
  const initial = initialKnown(ctx);
  const arbitrary = fc.commands([meet(env), logout(env), observe(env), observe(env)], { maxCommands: MAX_COMMANDS });
  // An undecided verdict (a logout that failed) is not the rule's failure: stop spending requests on
  // shrinking it; checkProperty reports it as `error`.
  let stopped: CheckStop | undefined;
  const verdict = await checkProperty(
    ctx,
    checkId,
    arbitrary,
    async (cmds) => {
      if (stopped) throw stopped;
      const setup = () => ({ model: { known: initial.map((k) => ({ ...k })), met: 0 }, real: {} as Real });
      try {
        await fc.asyncModelRun(setup, cmds);
      } catch (e) {
        if (e instanceof CheckStop && e.verdict.status === 'error') stopped = e;
        throw e;
      }
    },
    (cmds) => String(cmds),
  );
  return `${verdict}, at most ${MAX_COMMANDS} commands each (${env.logouts} fresh opt-outs, most still pending when read)`;
}

export const modelChecks: Check[] = [
  {
    id: 'model.map-v2',
    rule: 'OP-MAP-OPTOUT',
    kind: 'property',
    needs: ['optout', 'synthetic'],
    title: 'model-based: sequences of fresh opt-outs and v2 map batches; every answer as the oracle says (either answer while pending, out once seen out)',
    run(ctx) {
      return runModel(ctx, this.id, mapV2);
    },
  },
  {
    id: 'model.map-v3',
    rule: 'OP-MAP-V3-OPTOUT',
    kind: 'property',
    needs: ['optout', 'synthetic'],
    title: 'model-based: sequences of fresh opt-outs and v3 map requests; every index as the oracle says (either answer while pending, out once seen out)',
    run(ctx) {
      return runModel(ctx, this.id, mapV3);
    },
  },
  {
    id: 'model.generate',
    rule: 'OP-GEN-OPTOUT',
    kind: 'property',
    needs: ['optout', 'synthetic'],
    title: 'model-based: sequences of fresh opt-outs and generate (raw or base64 hash); every answer as the oracle says (either answer while pending, out once seen out)',
    run(ctx) {
      return runModel(ctx, this.id, generate);
    },
  },
];
