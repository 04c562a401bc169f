/**
 * Tag-based routing, as LiteLLM's `enable_tag_filtering`: a deployment's `tags` (litellm_params.tags)
 * say which requests it serves. A request with tags goes to the deployments that carry one of them, or,
 * when none does, to those tagged `default`; a request without tags goes to the `default` ones when the
 * group has any, else to every deployment. An empty result means the group cannot serve the request.
 */
export const DEFAULT_TAG = "default"

export const deploymentsForTags = <D extends { readonly config: { readonly tags: ReadonlyArray<string> } }>(
  deployments: ReadonlyArray<D>,
  tags: ReadonlyArray<string>
): ReadonlyArray<D> => {
  const defaults = deployments.filter((d) => d.config.tags.includes(DEFAULT_TAG))
  if (tags.length === 0) return defaults.length > 0 ? defaults : deployments
  const matching = deployments.filter((d) => d.config.tags.some((t) => tags.includes(t)))
  return matching.length > 0 ? matching : defaults
}
