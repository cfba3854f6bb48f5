// The identities of a run, prepared before any check: raw UID2s mapped and tokens issued while everyone is
// still opted in, then every opt-out the run needs registered at once through /v2/token/logout, then one
// wait until all of them are visible. A run pays the propagation delay about once, not once per rule.
import type { Exchange } from '../client/operator-client.ts';
import type { DiiField } from '../wire/dii.ts';
import type { IdentityBody } from '../wire/identity.ts';
import type { Oracle, PersonKey } from '../oracle/oracle.ts';
import type { Progress } from '../progress.ts';
import type { RecordingApi } from './recording.ts';
import { base64Hash, hexHash, SyntheticIdentities } from './synthetic.ts';

/** Tokens issued before the opt-out, as the success answer carried them. */
export type IssuedIdentity = IdentityBody;

export interface Subject {
  /** Safe to print: names the subject's role, never its DII. */
  label: string;
  kind: 'email' | 'phone';
  /** The DII in normalized raw form. */
  dii: string;
  person: PersonKey;
  /** A documented test identity (used when the target gave no OPTOUT credentials). */
  test?: boolean;
  /** How the opt-out was registered; undefined for persons kept opted in. */
  loggedOutAs?: { field: DiiField; value: string };
  /** Raw UID2 mapped before the opt-out. */
  rawUid?: string;
  /** Tokens issued before the opt-out; for `chain`, the refresh chain A → B, B issued by refreshing A. */
  issued?: IssuedIdentity;
  chain?: IssuedIdentity[];
}

export type Group =
  /** Opted out by their raw DII: emails and phones. */
  | 'optedOut'
  /** Opted out through a hash form (email_hash base64, phone_hash hex). */
  | 'hashLoggedOut'
  /** gmail.com addresses opted out in normalized form. */
  | 'gmail'
  /** Non-gmail addresses with dots and a +tag: their gmail-style look-alikes are other people. */
  | 'dotted'
  /** A refresh chain A → B issued before the opt-out. */
  | 'chain'
  /** Reserved for checks that register the same opt-out again (OP-STATUS-EARLIEST, OP-PROPAGATION). */
  | 'repeat'
  | 'watch'
  /** Never opted out. */
  | 'controls'
  /** Test identities whose every refresh answers optout (refresh checks without OPTOUT credentials). */
  | 'refreshTest';

export interface PrepareOptions {
  api: RecordingApi;
  optoutApi?: RecordingApi;
  oracle: Oracle;
  identities: SyntheticIdentities;
  /** False on a production host: only the documented test identities are sent. */
  synthetic: boolean;
  propagationTimeoutMs: number;
  pollIntervalMs: number;
  progress?: Progress;
  /** Interruption: stop waiting for propagation. */
  signal?: AbortSignal;
}

export interface PropagationFigures {
  registered: number;
  visible: number;
  /** ms from the logout acknowledgement to the first answer reporting the opt-out. */
  latencyMs: { min: number; median: number; max: number } | undefined;
  waitedMs: number;
}

const body = (x: Exchange): Record<string, unknown> => ((x.body as { body?: unknown } | undefined)?.body ?? {}) as Record<string, unknown>;
const statusOf = (x: Exchange): unknown => (x.body as { status?: unknown } | undefined)?.status;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Population {
  private readonly groups = new Map<Group, Subject[]>();
  figures: PropagationFigures = { registered: 0, visible: 0, latencyMs: undefined, waitedMs: 0 };

  /** Subjects of a group; empty when the target cannot support it (no OPTOUT credentials). */
  get(group: Group): readonly Subject[] {
    return this.groups.get(group) ?? [];
  }

  /** Every subject the oracle expects opted out (including the always-opted-out test identities). */
  optedOut(): Subject[] {
    return [...this.get('optedOut'), ...this.get('hashLoggedOut'), ...this.get('gmail'), ...this.get('dotted')];
  }

  private add(group: Group, subject: Subject): Subject {
    this.groups.set(group, [...this.get(group), subject]);
    return subject;
  }

  static async prepare(options: PrepareOptions): Promise<Population> {
    const population = new Population();
    await population.build(options);
    return population;
  }

  private subject(label: string, kind: 'email' | 'phone', dii: string, oracle: Oracle, test = false): Subject {
    const person = oracle.person(kind, dii);
    if (!person) throw new Error(`synthetic identity ${label} is invalid`);
    return { label, kind, dii, person, ...(test ? { test } : {}) };
  }

  private async build(options: PrepareOptions): Promise<void> {
    const { api, optoutApi, oracle, identities: ids } = options;
    const say = (line: string) => options.progress?.phase(line);
    const s = (label: string, kind: 'email' | 'phone', dii: string) => this.subject(label, kind, dii, oracle);

    if (options.synthetic) {
      this.add('controls', s('control-email-1', 'email', ids.email()));
      this.add('controls', s('control-email-2', 'email', ids.email('example.org')));
      this.add('controls', s('control-gmail-1', 'email', ids.gmail()));
      this.add('controls', s('control-phone-1', 'phone', ids.phone()));
      this.add('controls', s('control-phone-2', 'phone', ids.phone()));
    }
    this.add('refreshTest', this.subject('test-refresh-email', 'email', 'refresh-optout@example.com', oracle, true));
    this.add('refreshTest', this.subject('test-refresh-phone', 'phone', '+00000000002', oracle, true));

    if (!optoutApi || !options.synthetic) {
      // Without OPTOUT credentials, the documented always-opted-out identities stand in (UID2-SPEC §4).
      this.add('optedOut', this.subject('test-optout-email', 'email', 'optout@example.com', oracle, true));
      this.add('optedOut', this.subject('test-optout-phone', 'phone', '+00000000000', oracle, true));
    } else {
      for (let i = 1; i <= 4; i++) this.add('optedOut', s(`optout-email-${i}`, 'email', ids.email(i % 2 ? 'example.com' : 'example.org')));
      for (let i = 1; i <= 3; i++) this.add('optedOut', s(`optout-phone-${i}`, 'phone', ids.phone()));
      this.add('hashLoggedOut', s('optout-email-hash', 'email', ids.email()));
      this.add('hashLoggedOut', s('optout-phone-hash', 'phone', ids.phone()));
      for (let i = 1; i <= 2; i++) this.add('gmail', s(`optout-gmail-${i}`, 'email', ids.gmail()));
      for (let i = 1; i <= 2; i++) this.add('dotted', s(`optout-dotted-${i}`, 'email', ids.dottedEmail()));
      this.add('chain', s('optout-chain', 'email', ids.email()));
      this.add('repeat', s('optout-repeat', 'email', ids.email()));
      this.add('watch', s('optout-watch', 'email', ids.email()));
    }

    say('preparing: mapping raw UID2s and issuing tokens while everyone is opted in');
    await this.learnRawUids(api, oracle);
    await this.issueTokens(api);
    if (!optoutApi || !options.synthetic) return;

    const toRegister: Subject[] = [...this.optedOut(), ...this.get('chain'), ...this.get('repeat'), ...this.get('watch')];
    for (const subject of toRegister) subject.loggedOutAs = this.logoutForm(subject);
    say(`registering ${toRegister.length} opt-outs through /v2/token/logout`);
    await Promise.all(
      toRegister.map(async (subject) => {
        const sent = Date.now();
        const { field, value } = subject.loggedOutAs!;
        const answer = await optoutApi.logout({ [field]: value } as never);
        if (answer.http === 200 && statusOf(answer) === 'success') oracle.registerOptOut(subject.person, sent, Date.now());
      }),
    );
    await this.awaitVisibility(toRegister, options);
  }

  /** Most opt-outs go in as raw DII; the hash group through the hash forms, to cover the operator's hash path. */
  private logoutForm(subject: Subject): { field: DiiField; value: string } {
    if (this.get('hashLoggedOut').includes(subject)) {
      return subject.kind === 'email' ? { field: 'email_hash', value: base64Hash(subject.dii) } : { field: 'phone_hash', value: hexHash(subject.dii) };
    }
    return { field: subject.kind, value: subject.dii };
  }

  private all(): Subject[] {
    return [...new Set([...this.groups.values()].flat())];
  }

  private async learnRawUids(api: RecordingApi, oracle: Oracle): Promise<void> {
    for (const kind of ['email', 'phone'] as const) {
      const subjects = this.all().filter((s) => s.kind === kind && !(s.test && oracle.expect(s.person, 'map', Date.now()) === 'out'));
      if (subjects.length === 0) continue;
      const answer = await api.mapV2({ [kind]: subjects.map((s) => s.dii) });
      const mapped = (body(answer).mapped ?? []) as Array<{ identifier?: string; advertising_id?: string }>;
      for (const subject of subjects) {
        const uid = mapped.find((m) => m.identifier === subject.dii)?.advertising_id;
        if (typeof uid === 'string') {
          subject.rawUid = uid;
          oracle.learnUid(uid, subject.person);
        }
      }
    }
  }

  private async issueTokens(api: RecordingApi): Promise<void> {
    const wanted = [...this.get('optedOut').filter((s) => !s.test), ...this.get('refreshTest'), ...this.get('chain')];
    await Promise.all(
      wanted.map(async (subject) => {
        const answer = await api.generate({ [subject.kind]: subject.dii, optout_check: 1 } as never);
        if (statusOf(answer) !== 'success') return;
        subject.issued = body(answer) as unknown as IssuedIdentity;
      }),
    );
    for (const subject of this.get('chain')) {
      if (!subject.issued) continue;
      const next = await api.refresh(subject.issued.refresh_token, subject.issued.refresh_response_key, { authenticated: true });
      if (statusOf(next) === 'success') subject.chain = [subject.issued, body(next) as unknown as IssuedIdentity];
    }
  }

  /** Polls every registered opt-out together until each is visible or the propagation bound passes. */
  private async awaitVisibility(subjects: Subject[], options: PrepareOptions): Promise<void> {
    const { api, oracle, propagationTimeoutMs, pollIntervalMs } = options;
    const registered = subjects.filter((s) => oracle.registration(s.person));
    const pending = new Set(registered);
    const started = Date.now();
    const deadline = Math.max(started, ...registered.map((s) => oracle.registration(s.person)!.ackMs)) + propagationTimeoutMs;
    while (pending.size > 0 && Date.now() <= deadline && !options.signal?.aborted) {
      await Promise.all(
        [...pending].map(async (subject) => {
          const sent = Date.now();
          if (await this.looksOptedOut(api, subject)) {
            oracle.observedOut(subject.person, Date.now());
            pending.delete(subject);
          } else oracle.observedIn(subject.person, sent);
        }),
      );
      if (pending.size === 0) break;
      options.progress?.tick(`waiting for ${pending.size} of ${registered.length} opt-outs to propagate (${Math.round((Date.now() - started) / 1000)} s of at most ${Math.round(propagationTimeoutMs / 1000)} s)`);
      await sleep(pollIntervalMs);
    }
    const latencies = oracle.latencies().sort((a, b) => a - b);
    options.progress?.phase(`${registered.length - pending.size} of ${registered.length} opt-outs visible after ${Date.now() - started} ms`);
    this.figures = {
      registered: registered.length,
      visible: registered.length - pending.size,
      latencyMs: latencies.length ? { min: latencies[0]!, median: latencies[Math.floor(latencies.length / 2)]!, max: latencies.at(-1)! } : undefined,
      waitedMs: Date.now() - started,
    };
  }

  /** Visible when either generate or a one-entry v3 map reports the opt-out. */
  private async looksOptedOut(api: RecordingApi, subject: Subject): Promise<boolean> {
    const { field, value } = subject.loggedOutAs!;
    const [generated, mapped] = await Promise.all([api.generate({ [field]: value, optout_check: 1 } as never), api.mapV3({ [field]: [value] })]);
    const entry = (body(mapped)[field] as Array<{ e?: string }> | undefined)?.[0];
    return statusOf(generated) === 'optout' || entry?.e === 'optout';
  }
}
