import { calibratePages } from './harness/page/reference/session.ts';
import { PAGE_FAULTS } from './harness/page/reference/pages.ts';
import { PUBLISHER_CHECKS } from './suites/publisher/index.ts';
const [fault, check] = process.argv.slice(2);
const rows = await calibratePages({ checks: PUBLISHER_CHECKS.filter((c) => c.id === check), faults: PAGE_FAULTS.filter((f) => f.name === fault), conformant: false });
for (const r of rows[0]!.results) { console.log(r.check, r.status, r.message); for (const e of r.evidence ?? []) console.log('   ', JSON.stringify(e).slice(0, 260)); }
