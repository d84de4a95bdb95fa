//! Read-your-writes across services: a read that names the changes it must include (the cursors its client got
//! from write answers) waits until they are included, up to the call's own deadline, then says which change it
//! is still missing, as a retryable UNAVAILABLE just before the deadline would cut the call.

use std::time::Duration;

use tokio::time::Instant;

use crate::ServiceError;

/// How long before the caller's deadline a read gives up waiting, so that its answer (naming the missing
/// change) reaches the caller rather than a bare DEADLINE_EXCEEDED.
const ANSWER_MARGIN: Duration = Duration::from_millis(50);

/// When a read waiting for changes must stop: just before the caller's deadline (the `grpc-timeout` header),
/// or before `longest` (the server's own request timeout) when the caller set none.
pub fn deadline<T>(request: &tonic::Request<T>, longest: Duration) -> Instant {
    let asked = request
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .unwrap_or(longest)
        .min(longest);
    Instant::now() + asked.saturating_sub(ANSWER_MARGIN)
}

/// A `grpc-timeout` value: up to eight digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The answer when the deadline came before `stream`'s change `wanted` was included (`included` is the last
/// change that is).
pub fn not_yet_included(field: &str, stream: &str, wanted: &str, included: &str) -> ServiceError {
    ServiceError::Unavailable(format!(
        "{field}: {stream} change {wanted} is not included yet (included up to {}); retry",
        if included.is_empty() { "none" } else { included }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read_in_every_unit() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("100000000S"), None, "more than eight digits");
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout("S"), None);
    }

    #[test]
    fn a_read_waits_at_most_its_callers_deadline_and_the_servers() {
        let mut request = tonic::Request::new(());
        request.metadata_mut().insert("grpc-timeout", "2S".parse().unwrap());
        let until = deadline(&request, Duration::from_secs(30)) - Instant::now();
        assert!(until <= Duration::from_secs(2) && until > Duration::from_millis(1900), "{until:?}");
        let until = deadline(&tonic::Request::new(()), Duration::from_secs(3)) - Instant::now();
        assert!(until <= Duration::from_secs(3) && until > Duration::from_millis(2900), "{until:?}");
    }
}
