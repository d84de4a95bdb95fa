//! The one mapping from what can go wrong in a service to the `tonic::Status` a caller sees.
//!
//! Bad input names its fields (in the message and as `google.rpc.BadRequest` details). Internal failures are
//! logged once with their cause chain and answered with a generic message: SQL text never reaches a caller.

use onestop_domain::FieldViolation;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub type ServiceResult<T> = Result<T, ServiceError>;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed; each violation names a field.
    #[error("invalid argument: {}", join(.0))]
    InvalidArgument(Vec<FieldViolation>),

    /// A named thing does not exist.
    #[error("{field}: {what} not found")]
    NotFound { field: String, what: String },

    /// The request conflicts with something already stored.
    #[error("{0}")]
    AlreadyExists(String),

    /// The request is well formed but the stored state does not allow it; each violation names a field.
    #[error("failed precondition: {}", join(.0))]
    FailedPrecondition(Vec<FieldViolation>),

    /// The caller is known but may not do this; the message names the field that points outside its reach.
    #[error("{0}")]
    PermissionDenied(String),

    /// A dependency (database, another service) cannot be reached; the caller may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),

    /// The request is larger than a limit allows (a file that expands too far, too many streams); the message
    /// names the field or the limit.
    #[error("{0}")]
    ResourceExhausted(String),

    /// A database failure not caused by the request.
    #[error("database error")]
    Database(#[from] sqlx::Error),

    /// Anything else not caused by the request.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ServiceError::InvalidArgument(vec![FieldViolation::new(field, reason)])
    }

    pub fn not_found(field: impl Into<String>, what: impl Into<String>) -> Self {
        ServiceError::NotFound { field: field.into(), what: what.into() }
    }

    pub fn precondition(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ServiceError::FailedPrecondition(vec![FieldViolation::new(field, reason)])
    }
}

impl ServiceError {
    /// What another onestop service's failure means to our caller: retryable when that service is away or busy
    /// (the caller did nothing wrong), otherwise ours.
    pub fn from_upstream(service: &str, status: Status) -> Self {
        match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted => {
                ServiceError::Unavailable(format!("{service}: {}", status.message()))
            }
            _ => ServiceError::Internal(anyhow::anyhow!("{service} answered {status:?}")),
        }
    }
}

impl From<onestop_domain::measures::SumOverflow> for ServiceError {
    /// An answer whose sums do not fit the 64 bits it is answered in: the caller can ask for less.
    fn from(overflow: onestop_domain::measures::SumOverflow) -> Self {
        ServiceError::precondition("period", overflow.to_string())
    }
}

impl From<Vec<FieldViolation>> for ServiceError {
    fn from(violations: Vec<FieldViolation>) -> Self {
        ServiceError::InvalidArgument(violations)
    }
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Status {
        match error {
            ServiceError::InvalidArgument(violations) => {
                let (shown, left_out) = within_budget(&violations);
                let mut details = ErrorDetails::new();
                for v in &shown {
                    details.add_bad_request_violation(v.field.clone(), v.reason.clone());
                }
                Status::with_error_details(Code::InvalidArgument, message(&shown, left_out), details)
            }
            ServiceError::NotFound { .. } => Status::not_found(error.to_string()),
            ServiceError::AlreadyExists(message) => Status::already_exists(message),
            ServiceError::FailedPrecondition(violations) => {
                let (shown, left_out) = within_budget(&violations);
                let mut details = ErrorDetails::new();
                for v in &shown {
                    details.add_precondition_failure_violation("STATE", v.field.clone(), v.reason.clone());
                }
                Status::with_error_details(Code::FailedPrecondition, message(&shown, left_out), details)
            }
            ServiceError::PermissionDenied(message) => Status::permission_denied(message),
            ServiceError::Unavailable(message) => Status::unavailable(message),
            ServiceError::ResourceExhausted(message) => Status::resource_exhausted(message),
            ServiceError::Database(db) => database_status(db),
            ServiceError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                Status::internal("internal error")
            }
        }
    }
}

/// Classifies a database error by its SQLSTATE: lost connections are retryable, conflicts between
/// transactions are worth retrying, a statement that ran out of time is a deadline, a reference to something
/// absent is a precondition, a value PostgreSQL cannot hold is the caller's, and everything else is ours.
fn database_status(error: sqlx::Error) -> Status {
    let code = match &error {
        // The service closed its pool on the way out: a call still running ends, and nothing is wrong.
        sqlx::Error::PoolClosed => return Status::unavailable("the service is stopping, retry later"),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => {
            tracing::warn!(%error, "database unreachable");
            return Status::unavailable("database unavailable, retry later");
        }
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()).unwrap_or_default(),
        _ => String::new(),
    };
    match code.as_str() {
        // serialization_failure, deadlock_detected
        "40001" | "40P01" => Status::aborted("a concurrent change conflicted with this one; retry"),
        // query_canceled (statement_timeout)
        "57014" => Status::deadline_exceeded("the database took too long to answer"),
        // admin_shutdown, crash_shutdown, cannot_connect_now, and the connection_exception class
        "57P01" | "57P02" | "57P03" => Status::unavailable("database unavailable, retry later"),
        c if c.starts_with("08") => Status::unavailable("database unavailable, retry later"),
        // foreign_key_violation
        "23503" => Status::failed_precondition("the request refers to a record that does not exist"),
        // The data_exception class: a value out of range, an invalid byte sequence, a malformed date. Fields
        // are checked before they reach the database, so this is a last line of defence.
        c if c.starts_with("22") => {
            tracing::warn!(%error, "database refused a value");
            Status::invalid_argument("a value in the request cannot be stored (out of range or malformed)")
        }
        // A unique violation the code did not expect is a bug, not the caller's conflict: the expected ones
        // are handled with ON CONFLICT where they can happen.
        _ => {
            tracing::error!(%error, "database error");
            Status::internal("internal error")
        }
    }
}

fn join(violations: &[FieldViolation]) -> String {
    violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// The bytes of violations one answer carries. A status travels in HTTP/2 trailers, which clients refuse beyond
/// 16 KiB in all (hyper's default), and it is carried twice (the message, percent-encoded, and the details,
/// base64-encoded): 2 KiB leaves room for both, however many fields a request got wrong.
const VIOLATIONS_BUDGET_BYTES: usize = 2 * 1024;
/// At most this much of one violation's field or reason, which may quote a value the caller sent.
const VIOLATION_PART_BYTES: usize = 300;

/// The first violations that fit in [`VIOLATIONS_BUDGET_BYTES`], each part cut to [`VIOLATION_PART_BYTES`], and
/// how many were left out.
fn within_budget(violations: &[FieldViolation]) -> (Vec<FieldViolation>, usize) {
    let mut shown = Vec::new();
    let mut used = 0;
    for v in violations {
        let v = FieldViolation::new(cut(&v.field), cut(&v.reason));
        used += v.field.len() + v.reason.len() + 4;
        if used > VIOLATIONS_BUDGET_BYTES && !shown.is_empty() {
            break;
        }
        shown.push(v);
    }
    let left_out = violations.len() - shown.len();
    (shown, left_out)
}

fn cut(text: &str) -> String {
    if text.len() <= VIOLATION_PART_BYTES {
        return text.to_owned();
    }
    let end = (0..=VIOLATION_PART_BYTES).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    format!("{}…", &text[..end])
}

fn message(shown: &[FieldViolation], left_out: usize) -> String {
    match left_out {
        0 => join(shown),
        n => format!("{}; and {n} more", join(shown)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_every_field() {
        let status = Status::from(ServiceError::InvalidArgument(vec![
            FieldViolation::new("cells[0].day", "is in the future"),
            FieldViolation::new("cells[2].procedure_code", "is not published"),
        ]));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("cells[2].procedure_code"));
        let details = status.get_error_details();
        let fields: Vec<_> = details.bad_request().unwrap().field_violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["cells[0].day", "cells[2].procedure_code"]);
    }

    #[test]
    fn many_violations_fit_in_an_answer() {
        let violations: Vec<FieldViolation> = (0..10_000)
            .map(|i| FieldViolation::new(format!("cells[{i}].day"), format!("{:?} is not a date", "9".repeat(5000))))
            .collect();
        let status = Status::from(ServiceError::InvalidArgument(violations));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("cells[0].day: "), "{}", status.message());
        assert!(status.message().ends_with("more"), "{}", status.message());
        assert!(status.message().len() <= VIOLATIONS_BUDGET_BYTES + 2 * VIOLATION_PART_BYTES);
        let shown = status.get_error_details().bad_request().unwrap().field_violations.len();
        assert!((1..10_000).contains(&shown));
        assert!(status.message().contains(&format!("and {} more", 10_000 - shown)));
    }

    #[test]
    fn failed_preconditions_name_every_field() {
        let status = Status::from(ServiceError::FailedPrecondition(vec![
            FieldViolation::new("rows[2].code", "is not in the catalogue"),
            FieldViolation::new("rows[4].code", "is not in the catalogue"),
        ]));
        assert_eq!(status.code(), Code::FailedPrecondition);
        let details = status.check_error_details().expect("decodable details");
        let subjects: Vec<_> =
            details.precondition_failure().unwrap().violations.iter().map(|v| v.subject.as_str()).collect();
        assert_eq!(subjects, ["rows[2].code", "rows[4].code"]);
    }

    /// A database error with the given SQLSTATE, as PostgreSQL would report it.
    #[derive(Debug)]
    struct WithCode(&'static str);

    impl std::fmt::Display for WithCode {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for WithCode {}

    impl sqlx::error::DatabaseError for WithCode {
        fn message(&self) -> &str {
            "refused"
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            match self.0 {
                "23505" => sqlx::error::ErrorKind::UniqueViolation,
                "23503" => sqlx::error::ErrorKind::ForeignKeyViolation,
                _ => sqlx::error::ErrorKind::Other,
            }
        }
    }

    #[test]
    fn database_errors_are_classified_by_sqlstate() {
        let status =
            |code| Status::from(ServiceError::Database(sqlx::Error::Database(Box::new(WithCode(code))))).code();
        assert_eq!(status("40001"), Code::Aborted);
        assert_eq!(status("40P01"), Code::Aborted);
        assert_eq!(status("57014"), Code::DeadlineExceeded);
        assert_eq!(status("23503"), Code::FailedPrecondition);
        assert_eq!(status("22003"), Code::InvalidArgument);
        assert_eq!(status("22021"), Code::InvalidArgument);
        assert_eq!(status("23505"), Code::Internal, "an unexpected unique violation is a bug");
        assert_eq!(status("57P01"), Code::Unavailable);
        assert_eq!(Status::from(ServiceError::Database(sqlx::Error::PoolTimedOut)).code(), Code::Unavailable);
        let stopping = Status::from(ServiceError::Database(sqlx::Error::PoolClosed));
        assert_eq!((stopping.code(), stopping.message()), (Code::Unavailable, "the service is stopping, retry later"));
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let status = Status::from(ServiceError::Internal(anyhow::anyhow!("relation \"secret\" does not exist")));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }
}
