// The propagation defaults of `run` (issue 8): the embedded operator keeps its short bound and no settle
// window; against --target a real opt-out takes about 5 minutes plus a sync (UID2-SPEC §5.2) and a fleet
// disagrees for a sync interval (§1.4): 20 minutes' bound, 2 minutes to settle. Given values always win.
import { describe, expect, it } from 'vitest';
import { RUN_DEFAULTS, sessionSettings } from '../../harness/run.ts';

describe('propagation defaults', () => {
  it('embedded: a 30 s bound, settled at the first report', () => {
    const { settings } = sessionSettings(RUN_DEFAULTS);
    expect(settings.propagationTimeoutMs).toBe(30_000);
    expect(settings.settleMs).toBe(0);
  });

  it('against --target: a 20 minute bound and a 2 minute settle window, polled every 2 s', () => {
    const { settings, checkTimeoutMs } = sessionSettings({ ...RUN_DEFAULTS, propagationTimeout: undefined, settle: undefined, target: 'http://127.0.0.1:9' });
    expect(settings.propagationTimeoutMs).toBe(20 * 60_000);
    expect(settings.settleMs).toBe(2 * 60_000);
    expect(settings.pollIntervalMs).toBe(2000);
    expect(checkTimeoutMs).toBeGreaterThan(settings.propagationTimeoutMs);
  });

  it('given values win over either default', () => {
    const { settings } = sessionSettings({ ...RUN_DEFAULTS, target: 'http://127.0.0.1:9', propagationTimeout: '20s', settle: '6s' });
    expect(settings.propagationTimeoutMs).toBe(20_000);
    expect(settings.settleMs).toBe(6000);
  });
});
