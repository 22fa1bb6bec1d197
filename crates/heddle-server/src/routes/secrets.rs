//! Secrets of the caller's tenant. Values go in, never out: every response carries metadata
//! and the masked form only, and no error message quotes what was sent.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use heddle_crypto::SecretString;
use heddle_identity::{CreateSecret, SecretValue};
use heddle_store::SecretFilter;
use heddle_types::{Environment, Secret, SecretId, SecretKind};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::{IntoParams, ToSchema};

use super::{ListPage, ListParams};
use crate::AppState;
use crate::extract::{ApiPath, ApiQuery, Authenticated};
use crate::problem::{ApiError, FieldError, Problem};

/// A secret's value, by `kind`. Secret strings are write-only: no response ever contains them.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretValueRequest {
    /// A single API key or token.
    ApiKey {
        #[schema(value_type = String, format = Password)]
        key: SecretString,
    },
    /// An OAuth client. `client_id` is not secret and appears in the masked form.
    OauthClient {
        client_id: String,
        #[schema(value_type = String, format = Password)]
        client_secret: SecretString,
        #[serde(default)]
        #[schema(value_type = Option<String>, format = Password)]
        refresh_token: Option<SecretString>,
    },
    /// A database login. `username` and `host` are not secret and appear in the masked form.
    DatabaseCredential {
        username: String,
        #[schema(value_type = String, format = Password)]
        password: SecretString,
        #[serde(default)]
        host: Option<String>,
        #[serde(default)]
        database: Option<String>,
    },
    /// Any other single value (a signing key, a webhook secret …).
    Custom {
        #[schema(value_type = String, format = Password)]
        value: SecretString,
    },
}

impl std::fmt::Debug for SecretValueRequest {
    /// Only the kind and the non-secret fields; secret strings never appear.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretValueRequest::ApiKey { .. } => f.write_str("ApiKey { key: \"[redacted]\" }"),
            SecretValueRequest::OauthClient { client_id, .. } => f
                .debug_struct("OauthClient")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            SecretValueRequest::DatabaseCredential { username, host, .. } => f
                .debug_struct("DatabaseCredential")
                .field("username", username)
                .field("host", host)
                .finish_non_exhaustive(),
            SecretValueRequest::Custom { .. } => f.write_str("Custom { value: \"[redacted]\" }"),
        }
    }
}

impl From<SecretValueRequest> for SecretValue {
    fn from(request: SecretValueRequest) -> Self {
        match request {
            SecretValueRequest::ApiKey { key } => SecretValue::ApiKey { key },
            SecretValueRequest::OauthClient {
                client_id,
                client_secret,
                refresh_token,
            } => SecretValue::OauthClient {
                client_id,
                client_secret,
                refresh_token,
            },
            SecretValueRequest::DatabaseCredential {
                username,
                password,
                host,
                database,
            } => SecretValue::DatabaseCredential {
                username,
                password,
                host,
                database,
            },
            SecretValueRequest::Custom { value } => SecretValue::Custom { value },
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSecretRequest {
    /// 1–128 ASCII letters, digits, `.`, `_`, `-` or `/`; unique per environment.
    name: String,
    environment: Environment,
    secret: SecretValueRequest,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// The new value; its `kind` must be the secret's kind.
    secret: SecretValueRequest,
}

/// `?environment=&kind=` beside the usual `?after=&limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SecretListParams {
    /// The `next_cursor` of the previous page.
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// Only secrets of this environment.
    environment: Option<Environment>,
    /// Only secrets of this kind.
    kind: Option<SecretKind>,
}

/// Secrets of your tenant that your role may see (builders: outside `prod`), oldest first.
/// Metadata and masked form only. A page may hold fewer items than `limit`; follow
/// `next_cursor` until it is absent.
#[utoipa::path(get, path = "/v1/secrets", tag = "secrets", security(("bearer" = [])), params(SecretListParams),
    responses((status = 200, body = ListPage<Secret>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_secrets(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(params): ApiQuery<SecretListParams>,
) -> Result<Json<ListPage<Secret>>, ApiError> {
    let page = ListParams {
        after: params.after,
        limit: params.limit,
    }
    .page()?;
    let filter = SecretFilter {
        environment: params.environment,
        kind: params.kind,
    };
    let secrets = state
        .identity
        .list_secrets(&caller.caller(), caller.principal.tenant_id, filter, page)
        .await?;
    Ok(Json(secrets.into()))
}

/// Store a secret. The value is sealed at once; from now on only its masked form is shown.
#[utoipa::path(post, path = "/v1/secrets", tag = "secrets", security(("bearer" = [])), request_body = CreateSecretRequest,
    responses((status = 201, body = Secret), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_secret(
    State(state): State<AppState>,
    caller: Authenticated,
    SecretJson(request): SecretJson<CreateSecretRequest>,
) -> Result<(StatusCode, Json<Secret>), ApiError> {
    let secret = state
        .identity
        .create_secret(
            &caller.caller(),
            CreateSecret {
                tenant_id: caller.principal.tenant_id,
                environment: request.environment,
                name: request.name,
                value: request.secret.into(),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(secret)))
}

/// One secret: metadata and masked form.
#[utoipa::path(get, path = "/v1/secrets/{id}", tag = "secrets", security(("bearer" = [])),
    params(("id" = String, Path, description = "Secret id")),
    responses((status = 200, body = Secret), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_secret(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<SecretId>,
) -> Result<Json<Secret>, ApiError> {
    let secret = state
        .identity
        .get_secret(&caller.caller(), caller.principal.tenant_id, id)
        .await?;
    Ok(Json(secret))
}

/// Replace a secret's value (same kind). The version goes up by one; the old value is gone.
#[utoipa::path(post, path = "/v1/secrets/{id}/rotate", tag = "secrets", security(("bearer" = [])),
    params(("id" = String, Path, description = "Secret id")), request_body = RotateSecretRequest,
    responses((status = 200, body = Secret), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<SecretId>,
    SecretJson(request): SecretJson<RotateSecretRequest>,
) -> Result<Json<Secret>, ApiError> {
    let secret = state
        .identity
        .rotate_secret(
            &caller.caller(),
            caller.principal.tenant_id,
            id,
            request.secret.into(),
        )
        .await?;
    Ok(Json(secret))
}

/// Delete a secret. Its value is erased at once; the returned metadata shows `deleted_at`.
#[utoipa::path(delete, path = "/v1/secrets/{id}", tag = "secrets", security(("bearer" = [])),
    params(("id" = String, Path, description = "Secret id")),
    responses((status = 200, body = Secret), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_secret(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<SecretId>,
) -> Result<Json<Secret>, ApiError> {
    let secret = state
        .identity
        .delete_secret(&caller.caller(), caller.principal.tenant_id, id)
        .await?;
    Ok(Json(secret))
}

/// A JSON body that may hold secret values. Like `ApiJson`, but a rejection never quotes the
/// input: serde's messages can contain the offending value (`invalid type: string "…"`),
/// which here may be a secret sent in the wrong place. The field path and what was expected
/// are kept, so the problem stays actionable.
#[derive(Debug)]
pub struct SecretJson<T>(pub T);

impl<T, S> FromRequest<S> for SecretJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(secret_json_problem(rejection).into()),
        }
    }
}

fn secret_json_problem(rejection: JsonRejection) -> Problem {
    match rejection {
        JsonRejection::JsonDataError(err) => {
            let (pointer, detail) = describe_data_error(&err.body_text());
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-body",
                "Invalid request body",
                format!(
                    "The JSON does not match the expected shape at `{pointer}`: {detail}. \
                     Values are not quoted back. See /openapi.json."
                ),
            )
            .with_errors(vec![FieldError { pointer, detail }])
        }
        JsonRejection::JsonSyntaxError(_) => Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "Malformed JSON",
            "The body is not valid JSON. Values are not quoted back; check quoting and escapes.",
        ),
        JsonRejection::MissingJsonContentType(_) => {
            Problem::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        }
        JsonRejection::BytesRejection(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::from_status(StatusCode::PAYLOAD_TOO_LARGE)
        }
        other => Problem::new(
            other.status(),
            "invalid-body",
            "Invalid request body",
            "The request body could not be read as JSON.",
        ),
    }
}

/// The field pointer and a description made only of Heddle's own words (field names and
/// what serde expected), from axum's text
/// `Failed to deserialize …: <path>: <serde message> at line L column C`.
fn describe_data_error(body_text: &str) -> (String, String) {
    let message = body_text.split_once(": ").map_or("", |(_, tail)| tail);
    let (pointer, message) = match message.split_once(": ") {
        Some((path, rest)) if !path.is_empty() && !path.contains([' ', '"', '`']) => {
            (format!("/{}", path.replace('.', "/")), rest)
        }
        _ => ("/".to_owned(), message),
    };
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head);
    let detail = if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field)
    {
        format!("the field `{field}` is missing")
    } else if message.starts_with("unknown field") {
        match message.split_once(", expected ") {
            Some((_, expected)) => format!("a field is not allowed here; expected {expected}"),
            None => "a field is not allowed here".to_owned(),
        }
    } else if let Some((_, expected)) = message.rsplit_once(", expected ") {
        format!("wrong type or value; expected {expected}")
    } else {
        "wrong type or value".to_owned()
    };
    (pointer, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "Failed to deserialize the JSON body into the target type: ";

    #[test]
    fn data_errors_keep_the_path_and_the_expectation_but_not_the_value() {
        let cases = [
            (
                "secret: invalid type: string \"sk-canary\", expected internally tagged enum SecretValueRequest at line 1 column 40",
                "/secret",
                "wrong type or value; expected internally tagged enum SecretValueRequest",
            ),
            (
                "secret.key: invalid type: integer `123456`, expected a string at line 1 column 9",
                "/secret/key",
                "wrong type or value; expected a string",
            ),
            (
                "environment: unknown variant `sk-canary`, expected one of `dev`, `staging`, `prod` at line 1 column 3",
                "/environment",
                "wrong type or value; expected one of `dev`, `staging`, `prod`",
            ),
            (
                "secret: unknown field `sk-canary`, expected `key` at line 1 column 3",
                "/secret",
                "a field is not allowed here; expected `key`",
            ),
            (
                "missing field `name` at line 1 column 3",
                "/",
                "the field `name` is missing",
            ),
            (
                "invalid value: string \"sk-canary\" at line 1 column 3",
                "/",
                "wrong type or value",
            ),
        ];
        for (text, pointer, detail) in cases {
            let (got_pointer, got_detail) = describe_data_error(&format!("{PREFIX}{text}"));
            assert_eq!(
                (got_pointer.as_str(), got_detail.as_str()),
                (pointer, detail)
            );
            assert!(!got_detail.contains("canary"));
        }
    }

    #[test]
    fn debug_of_a_request_redacts_every_secret_string() {
        let request: CreateSecretRequest = serde_json::from_str(
            r#"{"name":"n","environment":"dev","secret":{"kind":"database_credential",
                "username":"app","password":"pw-canary","host":"db"}}"#,
        )
        .unwrap();
        let debug = format!("{request:?}");
        assert!(!debug.contains("canary"), "{debug}");
        assert!(debug.contains("app"), "{debug}");
        for body in [
            r#"{"kind":"api_key","key":"k-canary"}"#,
            r#"{"kind":"oauth_client","client_id":"c","client_secret":"s-canary","refresh_token":"r-canary"}"#,
            r#"{"kind":"custom","value":"v-canary"}"#,
        ] {
            let value: SecretValueRequest = serde_json::from_str(body).unwrap();
            let debug = format!("{value:?}");
            assert!(!debug.contains("canary"), "{debug}");
            let debug = format!("{:?}", SecretValue::from(value));
            assert!(!debug.contains("canary"), "{debug}");
        }
    }

    #[test]
    fn unknown_fields_are_refused_inside_the_value() {
        let refused = serde_json::from_str::<SecretValueRequest>(
            r#"{"kind":"api_key","key":"k","note":"x"}"#,
        );
        assert!(refused.is_err());
    }
}
