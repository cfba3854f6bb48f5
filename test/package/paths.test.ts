// kitFile finds the kit's own files from its root, wherever the module that asks lives.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KIT_ROOT, kitFile } from '../../harness/paths.ts';

describe('kitFile', () => {
  it('resolves from the directory that holds the kit package.json', () => {
    const pkg = JSON.parse(readFileSync(kitFile('package.json'), 'utf8')) as { name: string };
    expect(pkg.name).toBe('uid2-conformance');
    expect(kitFile()).toBe(KIT_ROOT);
  });

  it('joins segments into one absolute path under the root', () => {
    const schema = kitFile('schemas', 'report.schema.json');
    expect(schema.startsWith(`${KIT_ROOT}/`)).toBe(true);
    expect(existsSync(schema)).toBe(true);
  });
});
