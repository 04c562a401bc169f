import type { PriceTable } from "../ledger/price-table.ts"
import type { RouterConfig } from "./config.ts"

/**
 * The config's per-deployment prices as the ledger's price table (by deployment id), over `base` (e.g.
 * INFERLINE_PRICE_TABLE): deployments priced in the router config win, the others keep base's prices.
 */
export const priceTableFromRouterConfig = (config: RouterConfig, base: PriceTable): PriceTable => {
  const deployments = { ...base.deployments }
  for (const d of config.deployments) {
    const p = d.prices
    if (p.input > 0 || p.cachedInput > 0 || p.output > 0) deployments[d.id] = { input: p.input, cached_input: p.cachedInput, output: p.output }
  }
  return { ...base, deployments }
}
