import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    // The reliability suite runs on its own: npm run test:faults (vitest.faults.config.ts).
    exclude: ["test/faults/**", "**/node_modules/**"],
    // Fails the run at once, naming DATABASE_URL / REDIS_URL, when PostgreSQL or Redis is not there.
    globalSetup: ["test/support/test-services.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
