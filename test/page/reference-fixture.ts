// What the reference page tests share: the browser bundles built once (as `npm run build` does), the kit's
// operator with the participant run's short lifetimes and a call log, and the reference pages served for it.
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { ensureBundles } from '../../harness/page/reference/files.ts';
import { startReferencePages, type ReferencePagesOptions } from '../../harness/page/reference/server.ts';

export const LIFETIMES = { refreshAfterMs: 1000, identityExpiresAfterMs: 4000, refreshExpiresAfterMs: 12_000 };

export async function startPagesWithOperator(options: Partial<ReferencePagesOptions> = {}): Promise<{ op: RunningOperator; pages: Awaited<ReturnType<typeof startReferencePages>>; close(): Promise<void> }> {
  ensureBundles();
  const op = await startOperator({ recordCalls: true, lifetimes: LIFETIMES });
  const pages = await startReferencePages({ operator: { url: op.url, ...op.credentials }, operatorBase: op.url, ...options });
  return { op, pages, close: async () => (await pages.close(), await op.close()) };
}
