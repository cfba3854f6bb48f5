import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Minutes per page in Chromium: npm run test:pages (vitest.pages.config.ts) until a page run meets its goal.
    exclude: [...configDefaults.exclude, 'test/page/reference-calibration.test.ts'],
    globalSetup: ['test/build.global-setup.ts'],
    environment: 'node',
    // The binary's embedded default drives the reference pages in Chromium (minutes): the CLI tests spawn it
    // without them; test/page/ runs the pages themselves (reference-embedded.test.ts: the default with them).
    env: { UID2_NO_PAGES: '1' },
    // Generous: many tests run the binary or a whole suite, and CI machines have 2 cores shared by two test
    // files at a time. A timeout catches a hang; speed is measured by npm run bench, never here.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
