/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// The browser tests (`make browser-test`): Node drives Debian's Chromium against the real server.
// One store, one server and one Chromium per run (tests/browser/globalSetup.ts); the files run one
// after the other, since they share them and the machine has few cores.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['tests/browser/**/*.test.ts'],
    globalSetup: ['tests/browser/globalSetup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    // expect.poll waits for a condition in the page: 10 s, as the tests' own waits.
    expect: { poll: { timeout: 10_000, interval: 50 } },
  },
});
