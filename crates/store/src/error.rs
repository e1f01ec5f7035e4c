//! Elasticsearch's error answers: a status, an exception type, a reason.

use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("{reason}")]
    Status {
        status: u16,
        kind: &'static str,
        reason: String,
    },
    /// An error reported through another, as a search reports its shards' failures.
    #[error("{reason}")]
    Wrapped {
        kind: &'static str,
        reason: String,
        cause: Box<EsError>,
    },
}

impl EsError {
    pub fn bad_request(kind: &'static str, reason: impl Into<String>) -> EsError {
        EsError::Status {
            status: 400,
            kind,
            reason: reason.into(),
        }
    }
    pub fn internal(reason: impl std::fmt::Display) -> EsError {
        EsError::Status {
            status: 500,
            kind: "exception",
            reason: reason.to_string(),
        }
    }
    pub fn not_found(kind: &'static str, reason: impl Into<String>) -> EsError {
        EsError::Status {
            status: 404,
            kind,
            reason: reason.into(),
        }
    }
    pub fn status(&self) -> u16 {
        match self {
            EsError::Status { status, .. } => *status,
            EsError::Wrapped { cause, .. } => cause.status(),
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            EsError::Status { kind, .. } | EsError::Wrapped { kind, .. } => kind,
        }
    }
    pub fn reason(&self) -> String {
        match self {
            EsError::Status { reason, .. } | EsError::Wrapped { reason, .. } => reason.clone(),
        }
    }
    pub fn conflict(reason: impl Into<String>) -> EsError {
        EsError::Status {
            status: 409,
            kind: "version_conflict_engine_exception",
            reason: reason.into(),
        }
    }
    /// Elasticsearch's error body.
    pub fn body(&self, index: Option<&str>) -> Value {
        let (status, kind, reason) = (self.status(), self.kind(), self.reason());
        let mut cause = match self {
            EsError::Wrapped { cause, .. } => {
                json!({"type": cause.kind(), "reason": cause.reason()})
            }
            EsError::Status { .. } => json!({"type": kind, "reason": reason}),
        };
        if let Some(i) = index {
            cause["index"] = json!(i);
        }
        let mut error = json!({"type": kind, "reason": reason});
        if let Some(i) = index {
            error["index"] = json!(i);
        }
        if let EsError::Wrapped { .. } = self {
            error["caused_by"] = cause.clone();
            error["phase"] = json!("query");
        }
        error["root_cause"] = json!([cause]);
        json!({"error": error, "status": status})
    }
}

pub(crate) fn tv<E: std::fmt::Display>(e: E) -> EsError {
    EsError::internal(e)
}
