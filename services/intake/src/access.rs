//! Who may push for, and read, which centers. The gate has already checked the caller's scopes; this checks the
//! centers a request names against the principal's.
//!
//! One-stop software acts for the centers its token lists; a national operator for every center. Services and
//! national readers read everything; a provincial office reads through aggregation, which knows its province's
//! units (intake does not keep the unit tree).

use onestop_server::auth::{Principal, Role};
use tonic::Status;

/// Refuses the request if any of `centers` is not the principal's to push for, naming each refused one by
/// `field(index)` (built only for those, since this runs for every pushed cell).
pub fn may_push<'a>(
    principal: &Principal,
    centers: impl IntoIterator<Item = &'a str>,
    field: impl Fn(usize) -> String,
) -> Result<(), Status> {
    if principal.role == Role::National {
        return Ok(());
    }
    let refused: Vec<String> = centers
        .into_iter()
        .enumerate()
        .filter(|(_, center)| !principal.acts_for_center(center))
        .map(|(i, center)| format!("{}: {} may not push for center {center}", field(i), principal.subject))
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Status::permission_denied(refused.join("; ")))
    }
}

/// Refuses a read of `centers` (all centers when empty) the principal may not see.
pub fn may_read(principal: &Principal, field: &str, centers: &[String]) -> Result<(), Status> {
    match principal.role {
        Role::National | Role::Service => Ok(()),
        Role::Software if !centers.is_empty() && centers.iter().all(|c| principal.acts_for_center(c)) => Ok(()),
        Role::Software => Err(Status::permission_denied(format!(
            "{field}: {} may read only its own centers, named explicitly",
            principal.subject
        ))),
        Role::Province | Role::Unit | Role::Agency => Err(Status::permission_denied(format!(
            "{field}: an office reads cells and cases through aggregation, which checks what it may read"
        ))),
    }
}
