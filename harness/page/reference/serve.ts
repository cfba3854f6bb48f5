// `uid2-conformance serve-pages`: serves the reference pages for a page run against them. The pages' server
// generates through the kit's operator (the run's --operator-listen, with the credentials that run accepts);
// their JavaScript talks to the documented UID2 host, which the page driver routes to the kit. The CSTG pages
// use the public key and subscription id the kit's operator derives from the client secret (or the ones given).
// Prints one line per page: its URL and its journey file, for `run --role publisher --page URL --journey FILE`.
import { checkClientSecret, parseListen, UsageError } from '../../config.ts';
import { cstgKeyPairFromSecret } from '../../operator/operator.ts';
import { findPageFault } from './pages.ts';
import { MissingBundleError } from './files.ts';
import { DEFAULT_OPERATOR_BASE, startReferencePages } from './server.ts';

export interface ServePagesOptions {
  listen: string;
  operator?: string;
  apiKey?: string;
  clientSecret?: string;
  cstgPublicKey?: string;
  cstgSubscriptionId?: string;
  operatorBase: string;
  fault?: string;
}

export async function servePages(options: ServePagesOptions): Promise<void> {
  if (!options.operator || !options.apiKey || !options.clientSecret) {
    throw new UsageError("serve-pages needs --operator (the kit's operator: the run's --operator-listen as a URL), --api-key and --client-secret (the credentials that run accepts)");
  }
  if (Boolean(options.cstgPublicKey) !== Boolean(options.cstgSubscriptionId)) throw new UsageError('--cstg-public-key and --cstg-subscription-id go together');
  if (options.fault !== undefined && !findPageFault(options.fault)) throw new UsageError(`--fault: unknown page fault "${options.fault}" (see: uid2-conformance list --faults)`);
  for (const [option, value] of [['--operator', options.operator], ['--operator-base', options.operatorBase]] as const) {
    if (!/^https?:\/\/[^/?#]+\/?$/.test(value)) throw new UsageError(`${option}: give an http(s) base URL with no path, e.g. ${DEFAULT_OPERATOR_BASE}`);
  }
  const clientSecret = checkClientSecret(options.clientSecret, '--client-secret');
  // The kit's operator of a participant run derives its CSTG key pair from the client secret it accepts.
  const derived = options.cstgPublicKey === undefined ? cstgKeyPairFromSecret(clientSecret) : undefined;
  const running = await startReferencePages({
    ...parseListen(options.listen, '--listen'),
    operator: {
      url: options.operator.replace(/\/$/, ''),
      apiKey: options.apiKey,
      clientSecret,
      cstgPublicKey: derived?.publicKey ?? options.cstgPublicKey!,
      cstgSubscriptionId: derived?.subscriptionId ?? options.cstgSubscriptionId!,
    },
    operatorBase: options.operatorBase,
    fault: options.fault,
  }).catch((e: NodeJS.ErrnoException) => {
    if (e instanceof MissingBundleError) throw new UsageError(e.message);
    throw new UsageError(`cannot listen on ${options.listen}: ${e.code ?? e.message}`);
  });
  const keys = derived ? "the CSTG key the kit's operator derives from --client-secret" : '--cstg-public-key';
  process.stderr.write(`reference pages${options.fault ? ` with fault ${options.fault}` : ''}; their JavaScript calls ${options.operatorBase}, CSTG with ${keys}; stop with Ctrl-C\n`);
  for (const page of running.pages) process.stdout.write(`${page.url} ${page.journey}\n`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
