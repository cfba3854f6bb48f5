// npm run bench: every benchmark of the kit, one after the other; figures printed, nothing asserted.
await import('./startup.ts');
await import('./wire.ts');
await import('./operator.ts');
await import('./pages.ts');
