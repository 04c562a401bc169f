import { didYouMean } from "../text/did-you-mean.ts"

/**
 * The keys each section of a router config may hold. A key Inferline implements is `known`; a LiteLLM
 * key Inferline does not implement is `ignored` (a LiteLLM config still loads, with a warning naming
 * it); anything else is an error with the closest known key, so that `api_bse` or `routing_stratgy`
 * stops startup instead of silently changing what runs.
 */
export interface SectionKeys {
  readonly known: ReadonlyArray<string>
  readonly ignored: ReadonlyArray<string>
}

/** LiteLLM settings Inferline accepts and does not act on (they appear in real LiteLLM configs). */
export const IGNORED_LITELLM_KEYS = {
  litellm_params: [
    "drop_params", "additional_drop_params", "api_version", "organization", "max_retries", "custom_llm_provider", "region_name",
    "aws_access_key_id", "aws_secret_access_key", "aws_region_name", "vertex_project", "vertex_location", "vertex_credentials",
    "temperature", "max_tokens", "merge_reasoning_content_in_choices", "use_in_pass_through", "mock_response"
  ],
  model_info: [
    "base_model", "max_tokens", "max_output_tokens", "input_cost_per_token", "output_cost_per_token", "supports_function_calling",
    "supports_vision", "supports_response_schema", "supports_tool_choice", "description", "tier", "access_groups", "team_id"
  ],
  router_settings: [
    "redis_host", "redis_port", "redis_password", "redis_url", "enable_pre_call_checks", "allowed_fails_policy", "routing_strategy_args",
    "model_group_retry_policy", "disable_cooldowns", "provider_budget_config", "optional_pre_call_checks", "cache_responses",
    "default_litellm_params", "set_verbose", "debug_level", "polling_interval"
  ],
  litellm_settings: [
    "drop_params", "set_verbose", "json_logs", "success_callback", "failure_callback", "callbacks", "service_callback",
    "turn_off_message_logging", "redact_user_api_key_info", "telemetry", "max_budget", "budget_duration", "modify_params",
    "enable_json_schema_validation", "default_team_settings", "upperbound_key_generate_params", "default_key_generate_params", "force_ipv4",
    "disable_end_user_cost_tracking", "allowed_fails", "cooldown_time"
  ],
  general_settings: [
    "database_url", "database_connection_pool_limit", "database_connection_timeout", "alerting", "alerting_threshold", "alert_types",
    "proxy_batch_write_at", "disable_spend_logs", "disable_master_key_return", "store_model_in_db",
    "health_check_details", "allowed_routes", "admin_only_routes", "enforce_user_param",
    "use_redis_transaction_buffer", "disable_reset_budget", "maximum_spend_logs_retention_period", "pass_through_endpoints", "custom_auth",
    "ui_access_mode", "max_request_size_mb", "max_response_size_mb", "infer_model_from_keys", "disable_prisma_schema_update",
    "key_management_system"
  ]
} as const

/** What checking the keys found: errors (unknown keys) and warnings (ignored LiteLLM keys), each with its path. */
export interface KeyReport {
  readonly errors: Array<string>
  readonly ignored: Array<string>
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x)

/** Checks one mapping's keys against its section's; values that are not mappings are the schema's business. */
export const checkSectionKeys = (value: unknown, path: string, keys: SectionKeys, report: KeyReport): void => {
  if (!isRecord(value)) return
  for (const key of Object.keys(value)) {
    if (keys.known.includes(key)) continue
    if (keys.ignored.includes(key)) {
      report.ignored.push(`${path}.${key}`)
      continue
    }
    report.errors.push(`${path}.${key}: unknown key${didYouMean(key, [...keys.known, ...keys.ignored])}`)
  }
}
