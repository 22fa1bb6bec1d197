//! The HTTP routes. Each handler parses, calls one service function (identity, records or
//! runtime), maps the result.

pub mod approvals;
pub mod audit;
pub mod auth;
pub mod configs;
pub mod guardrails;
pub mod health;
pub mod keys;
pub mod mcp;
pub mod mcp_servers;
pub mod meta;
pub mod openai;
pub mod policies;
pub mod records;
pub mod roles;
pub mod secrets;
pub mod sessions;
pub mod siem;
pub mod tenants;
pub mod users;

use heddle_types::{MAX_PAGE_LIMIT, Page, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::problem::{ApiError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Heddle API",
        description = "Governed runtime and security gateway for AI agents. Every error is an \
                       RFC 9457 problem document (`application/problem+json`).",
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem)),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Login and logout"),
        (name = "users", description = "Users of a tenant"),
        (name = "api-keys", description = "Application credentials"),
        (name = "tenants", description = "Tenants"),
        (name = "roles", description = "Roles and what they may do"),
        (name = "policies", description = "A tenant's custom Cedar policies"),
        (name = "audit", description = "The tenant's verifiable audit log"),
        (name = "secrets", description = "Credentials kept sealed in the vault; values are write-only"),
        (name = "configs", description = "Agents, capabilities and model bindings as versioned files: lint, apply, read"),
        (name = "records", description = "Business records as the caller: sharing, CRUD and field-level security of the tenant's record org apply"),
        (name = "sessions", description = "Conversations with agents: turns on the governed path, their execution records, customer verification"),
        (name = "approvals", description = "Human in the loop: confirming calls held in a conversation, and approving or rejecting what waits for an approver"),
        (name = "gateway", description = "The OpenAI-compatible endpoint: requests through a route's trust layers, masking, budgets and audit; errors in OpenAI's shape"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`hdl_…`) or an access token from /v1/auth/login (`hdt_…`)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every route, with its OpenAPI description collected from the handler annotations.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(meta::openapi_json))
        .routes(routes!(meta::prometheus_metrics))
        .routes(routes!(meta::security_txt))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(users::me))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user))
        .routes(routes!(keys::list_api_keys, keys::create_api_key))
        .routes(routes!(keys::get_api_key, keys::revoke_api_key))
        .routes(routes!(tenants::current_tenant))
        .routes(routes!(tenants::list_tenants, tenants::create_tenant))
        .routes(routes!(roles::list_roles))
        .routes(routes!(policies::list_policies, policies::create_policy))
        .routes(routes!(policies::policy_schema))
        .routes(routes!(policies::get_policy, policies::delete_policy))
        .routes(routes!(audit::list_audit_events))
        .routes(routes!(audit::list_checkpoints, audit::issue_checkpoint))
        .routes(routes!(audit::public_keys))
        .routes(routes!(audit::inclusion_proof))
        .routes(routes!(audit::consistency_proof))
        .routes(routes!(audit::export))
        .routes(routes!(secrets::list_secrets, secrets::create_secret))
        .routes(routes!(secrets::get_secret, secrets::delete_secret))
        .routes(routes!(secrets::rotate_secret))
        .routes(routes!(siem::list_sinks, siem::create_sink))
        .routes(routes!(siem::delete_sink))
        .routes(routes!(siem::resume_sink))
        .routes(routes!(configs::lint_config))
        .routes(routes!(configs::apply_config, configs::latest_config))
        .routes(routes!(configs::config_versions))
        .routes(routes!(mcp_servers::list_tools))
        .routes(routes!(mcp_servers::approve_tool, mcp_servers::revoke_tool))
        .routes(routes!(records::list_objects))
        .routes(routes!(records::describe_object))
        .routes(routes!(records::list_records, records::create_record))
        .routes(routes!(records::query_records))
        .routes(routes!(
            records::get_record,
            records::update_record,
            records::delete_record
        ))
        .routes(routes!(records::get_record_org, records::apply_record_org))
        .routes(routes!(sessions::list_sessions, sessions::create_session))
        .routes(routes!(sessions::get_session))
        .routes(routes!(sessions::post_message))
        .routes(routes!(sessions::start_verification))
        .routes(routes!(sessions::confirm_verification))
        .routes(routes!(sessions::get_execution))
        .routes(routes!(approvals::confirm_action))
        .routes(routes!(approvals::decline_action))
        .routes(routes!(approvals::list_approvals))
        .routes(routes!(approvals::get_approval))
        .routes(routes!(approvals::approve_action))
        .routes(routes!(approvals::reject_action))
        .routes(routes!(guardrails::list_violations))
        .routes(routes!(openai::chat_completions))
        .routes(routes!(openai::list_models))
        .routes(routes!(openai::embeddings))
}

/// `?after=<cursor>&limit=<n>` on every list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// The `next_cursor` of the previous page.
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
}

impl ListParams {
    fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
            return Err(Problem::new(
                http::StatusCode::BAD_REQUEST,
                "invalid-query",
                "Invalid query parameters",
                format!("`limit` must be between 1 and {MAX_PAGE_LIMIT}, got `{limit}`."),
            )
            .into());
        }
        let after = match &self.after {
            None => None,
            Some(cursor) => Some(uuid::Uuid::parse_str(cursor).map_err(|_| {
                Problem::new(
                    http::StatusCode::BAD_REQUEST,
                    "invalid-query",
                    "Invalid query parameters",
                    "`after` must be a `next_cursor` value returned by a previous page.",
                )
            })?),
        };
        Ok(PageRequest { after, limit })
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for ListPage<T> {
    fn from(page: Page<T>) -> Self {
        Self {
            items: page.items,
            next_cursor: page.next_cursor.map(|cursor| cursor.to_string()),
        }
    }
}
