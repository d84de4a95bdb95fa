//! What operators of aggregation see of its own state: the changes it set aside.

use chrono::{DateTime, Datelike, Utc};
use onestop_domain::Violations;
use onestop_proto::aggregation::v1::*;
use onestop_proto::convert::timestamp_to_wire;
use onestop_server::auth::{Principal, Role};
use onestop_server::{paging, ServiceError, ServiceResult};

use super::AggregationApi;

const DEFAULT_PAGE_SIZE: u32 = 100;
const MAX_PAGE_SIZE: u32 = 1_000;

impl AggregationApi {
    /// The changes set aside, oldest first; for national principals, since they span every province.
    pub(super) async fn set_aside_changes(
        &self,
        principal: &Principal,
        request: ListSetAsideChangesRequest,
    ) -> ServiceResult<ListSetAsideChangesResponse> {
        if principal.role != Role::National {
            return Err(ServiceError::PermissionDenied(format!(
                "set-aside changes span every province; {} is not a national principal",
                principal.subject
            )));
        }
        let mut v = Violations::new();
        let page_size = paging::page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
            .map_err(|reason| v.add("page_size", reason))
            .unwrap_or(DEFAULT_PAGE_SIZE);
        let after = match request.page_token.as_str() {
            "" => None,
            token => paging::decode(token, 3)
                .ok()
                .and_then(|key| Some((key[0].parse::<DateTime<Utc>>().ok()?, key[1].clone(), key[2].clone())))
                // A moment of a real token is a time something was set aside, never outside the years of dates.
                .filter(|(at, _, _)| onestop_domain::validate::YEARS.contains(&at.year()))
                .or_else(|| {
                    v.add("page_token", "is not a token from a previous response");
                    None
                }),
        };
        v.into_result()?;
        let (at, source, cursor) = match after {
            Some((at, source, cursor)) => (Some(at), source, cursor),
            None => (None, String::new(), String::new()),
        };
        let rows: Vec<(String, String, String, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT source, cursor, summary, reason, set_aside_at FROM set_aside_change
             WHERE $1::timestamptz IS NULL OR (set_aside_at, source, cursor) > ($1, $2, $3)
             ORDER BY set_aside_at, source, cursor LIMIT $4",
        )
        .bind(at)
        .bind(&source)
        .bind(&cursor)
        .bind(i64::from(page_size))
        .fetch_all(&self.pool)
        .await?;
        let next_page_token = match rows.last() {
            Some((source, cursor, _, _, at)) if rows.len() == page_size as usize => {
                paging::encode(&[&at.to_rfc3339(), source, cursor])
            }
            _ => String::new(),
        };
        let changes = rows
            .into_iter()
            .map(|(source, cursor, summary, reason, at)| SetAsideChange {
                source,
                cursor,
                summary,
                reason,
                set_aside_at: Some(timestamp_to_wire(at)),
            })
            .collect();
        Ok(ListSetAsideChangesResponse { changes, next_page_token })
    }
}
