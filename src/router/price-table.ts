import type { Price, PriceTable } from "../ledger/price-table.ts"
import type { RouterConfig } from "./config.ts"

/** The config's per-deployment prices (by deployment id), for those priced in it. */
export const deploymentPrices = (config: RouterConfig): Readonly<Record<string, Price>> => {
  const prices: Record<string, Price> = {}
  for (const d of config.deployments) {
    const p = d.prices
    if (p.input > 0 || p.cachedInput > 0 || p.output > 0) prices[d.id] = { input: p.input, cached_input: p.cachedInput, output: p.output }
  }
  return prices
}

/**
 * The config's per-deployment prices as the ledger's price table, over `base` (e.g.
 * INFERLINE_PRICE_TABLE): deployments priced in the router config win, the others keep base's prices.
 */
export const priceTableFromRouterConfig = (config: RouterConfig, base: PriceTable): PriceTable => ({
  ...base,
  deployments: { ...base.deployments, ...deploymentPrices(config) }
})
