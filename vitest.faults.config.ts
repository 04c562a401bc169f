import { defineConfig } from "vitest/config"

/**
 * The reliability suite (`npm run test:faults`): real `inferline serve` processes against Postgres and
 * Redis instances of the tests' own, stopped, frozen and killed by pid. One file at a time: the
 * timings they assert must not compete with each other for the machine's cores.
 */
export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 120_000
  }
})
