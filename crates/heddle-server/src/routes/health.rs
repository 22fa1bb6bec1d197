//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::problem::{ApiError, Problem};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

/// The process is up. Checks nothing else, so orchestrators do not restart it for a
/// database outage.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
}

/// Ready to serve: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Problem)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    let store = state.identity.store();
    match store.ping().await {
        Ok(()) => Ok(Json(Readiness {
            status: "ready",
            database: store.engine(),
        })),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            Err(Problem::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "not-ready",
                "Not ready",
                format!("The {} database does not answer.", store.engine()),
            )
            .into())
        }
    }
}
