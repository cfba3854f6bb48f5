// Every answer of the run, whatever check asked, validated against its endpoint's schema: a violation is
// an OP-SCHEMA matter wherever it shows, so the ledger keeps it for the one check that judges them all
// (suites/operator/schema.ts `schema.every-answer`), run last.
import type { Exchange } from '../client/operator-client.ts';
import { ANSWER_SCHEMA_OF_PATH, validateAnswer } from './schemas.ts';

export interface SchemaViolation {
  check: string;
  path: string;
  http: number;
  problems: string[];
}

const MAX_KEPT = 20;

export class AnswerLedger {
  validated = 0;
  violations = 0;
  readonly kept: SchemaViolation[] = [];

  record(check: string, x: Exchange): void {
    // Only JSON answers are judged here: an answer that did not open is OP-ENVELOPE's business.
    if (x.envelopeError || x.body === undefined || typeof x.body !== 'object' || x.body === null) return;
    const schema = x.http === 200 ? ANSWER_SCHEMA_OF_PATH[x.path] : 'error';
    if (!schema) return;
    this.validated += 1;
    const problems = validateAnswer(schema, x.body);
    if (problems.length === 0) return;
    this.violations += 1;
    if (this.kept.length < MAX_KEPT) this.kept.push({ check, path: x.path, http: x.http, problems });
  }
}
