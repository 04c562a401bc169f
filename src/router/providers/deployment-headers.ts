import type { DeploymentConfig } from "../config.ts"

/**
 * A provider's request headers for a deployment (`own`: auth and the like) with the deployment's
 * `extra_headers` over them, made once per deployment rather than per request.
 */
export const deploymentHeaders = (own: (d: DeploymentConfig) => Record<string, string>) => {
  const made = new WeakMap<DeploymentConfig, Readonly<Record<string, string>>>()
  return (d: DeploymentConfig): Readonly<Record<string, string>> => {
    let headers = made.get(d)
    if (headers === undefined) {
      headers = { ...own(d), ...d.extraHeaders }
      made.set(d, headers)
    }
    return headers
  }
}
