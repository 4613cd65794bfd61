import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One test file at a time: the files start several daemons each, and two
    // side by side on 2 cores made joins miss their deadlines (CI, 2026-12-04).
    maxWorkers: 1,
    setupFiles: ['test/helpers/setup.ts']
  }
})
