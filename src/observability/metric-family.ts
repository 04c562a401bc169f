import { Metric } from "effect"

/**
 * One metric per attribute set, built on first use and reused: the hot-path alternative to
 * `Metric.withAttributes`, which adds the attributes to the fiber's context on every update (copying the
 * whole context map once it is deep enough) and re-derives the series key. A metric built with the
 * attributes in its options lands in the same registry series as `withAttributes` would.
 *
 * Attribute values must come from bounded sets (model names, finish reasons, error codes): every set
 * seen is kept, as the registry keeps its series anyway.
 */
export const metricFamily = <M extends Metric.Metric<any, any>>(make: (attributes: Readonly<Record<string, string>>) => M) => {
  const members = new Map<string, M>()
  return (attributes: Readonly<Record<string, string>>): M => {
    // Names and values joined with separators no attribute holds: cheaper than JSON.stringify per update.
    let key = ""
    for (const name in attributes) key += name + "\u0001" + attributes[name] + "\u0002"
    let metric = members.get(key)
    if (metric === undefined) {
      metric = make(attributes)
      members.set(key, metric)
    }
    return metric
  }
}

/** A histogram family: `metricFamily` over `Metric.histogram(name, { ...options, attributes })`. */
export const histogramFamily = (name: string, options: { readonly description: string; readonly boundaries: ReadonlyArray<number> }) =>
  metricFamily((attributes) => Metric.histogram(name, { ...options, attributes }))

/** A counter family: `metricFamily` over `Metric.counter(name, { ...options, attributes })`. */
export const counterFamily = (name: string, options: { readonly description: string }) =>
  metricFamily((attributes) => Metric.counter(name, { ...options, attributes }))
