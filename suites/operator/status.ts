// Checks of this file are being written; the registry imports it already.
import type { Check } from '../../harness/engine/check.ts';

export const statusChecks: Check[] = [];
