//! Rows for `COPY … FROM STDIN (FORMAT binary)`: the fastest way to add many rows to a table. PostgreSQL reads
//! binary fields as they are stored, with no text to parse and nothing to escape.
//!
//! The layout (PostgreSQL's documentation, "COPY", binary format): a signature, flags and an extension length;
//! per row the number of fields, then each field as its length (−1 for NULL) and its bytes; −1 at the end.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// PostgreSQL's epoch for dates and times.
const POSTGRES_EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(day) => day,
    None => unreachable!(),
};
/// Microseconds from the Unix epoch to PostgreSQL's.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Rows encoded for a binary `COPY`, each field in the order of the statement's column list.
pub struct BinaryRows {
    buffer: Vec<u8>,
    columns: i16,
}

impl BinaryRows {
    /// Rows of `columns` fields each, with room for about `rows` of them.
    pub fn new(columns: i16, rows: usize) -> BinaryRows {
        let mut buffer = Vec::with_capacity(SIGNATURE.len() + 10 + rows * (2 + columns as usize * 12));
        buffer.extend_from_slice(SIGNATURE);
        buffer.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        buffer.extend_from_slice(&0i32.to_be_bytes()); // no header extension
        BinaryRows { buffer, columns }
    }

    /// Starts a row: its fields follow.
    pub fn row(&mut self) -> &mut Self {
        self.buffer.extend_from_slice(&self.columns.to_be_bytes());
        self
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        let length = i32::try_from(bytes.len()).expect("a field shorter than 2 GiB");
        self.buffer.extend_from_slice(&length.to_be_bytes());
        self.buffer.extend_from_slice(bytes);
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.buffer.extend_from_slice(&(-1i32).to_be_bytes());
        self
    }

    /// A `text` field (UTF-8, as the connection's encoding is).
    pub fn text(&mut self, value: &str) -> &mut Self {
        self.field(value.as_bytes())
    }

    pub fn bigint(&mut self, value: i64) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    pub fn int(&mut self, value: i32) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    /// A `date`: days since 2000-01-01.
    pub fn date(&mut self, value: NaiveDate) -> &mut Self {
        let days = value.signed_duration_since(POSTGRES_EPOCH).num_days();
        self.field(&i32::try_from(days).expect("a date PostgreSQL holds").to_be_bytes())
    }

    /// A `timestamptz`, or NULL: microseconds since 2000-01-01 00:00 UTC.
    pub fn timestamptz(&mut self, value: Option<DateTime<Utc>>) -> &mut Self {
        match value {
            None => self.null(),
            Some(at) => {
                let micros = at.timestamp_micros() - POSTGRES_EPOCH_MICROS;
                self.field(&micros.to_be_bytes())
            }
        }
    }

    /// The whole payload, ended by its trailer.
    fn finish(mut self) -> Vec<u8> {
        self.buffer.extend_from_slice(&(-1i16).to_be_bytes());
        self.buffer
    }
}

/// Runs `statement` (a `COPY … FROM STDIN (FORMAT binary)`) with `rows` on `conn`; returns the rows stored. On an
/// error (a unique violation, say) nothing of the `COPY` is stored, and the transaction it ran in has failed:
/// run it under a savepoint to go on.
pub async fn copy_in(conn: &mut PgConnection, statement: &str, rows: BinaryRows) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(rows.finish()).await?;
    copy.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_laid_out_as_postgresql_reads_them() {
        let mut rows = BinaryRows::new(3, 1);
        let at = DateTime::parse_from_rfc3339("2000-01-01T00:00:01.000002Z").unwrap().with_timezone(&Utc);
        rows.row().date(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()).timestamptz(Some(at)).null();
        let bytes = rows.finish();
        let mut expected = b"PGCOPY\n\xff\r\n\0".to_vec();
        expected.extend([0, 0, 0, 0, 0, 0, 0, 0]); // flags, header extension
        expected.extend([0, 3]); // three fields
        expected.extend([0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]); // the day before the epoch: -1
        expected.extend([0, 0, 0, 8, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x42]); // 1,000,002 µs
        expected.extend([0xff, 0xff, 0xff, 0xff]); // NULL
        expected.extend([0xff, 0xff]); // the end
        assert_eq!(bytes, expected);
    }
}
