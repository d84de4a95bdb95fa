//! Conversions between protobuf timestamps and chrono's.

use chrono::{DateTime, Utc};

pub fn to_wire(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

/// `None` for a timestamp outside chrono's range or with invalid nanoseconds.
pub fn from_wire(t: prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(t.nanos).ok()?;
    DateTime::from_timestamp(t.seconds, nanos)
}
