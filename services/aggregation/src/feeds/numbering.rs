//! Centers and procedures are numbered on first sight (`center_number`, `procedure_number`): the per-procedure
//! copy of the cells is keyed by the numbers, and the sets of procedures are bitmaps of them.

use std::collections::HashMap;

/// A table that numbers codes.
#[derive(Clone, Copy)]
pub enum Numbering {
    Centers,
    Procedures,
}

impl Numbering {
    fn table(self) -> &'static str {
        match self {
            Numbering::Centers => "center_number",
            Numbering::Procedures => "procedure_number",
        }
    }
}

/// The number of each of `codes`, numbering the new ones (in code order). Only codes not yet numbered are
/// inserted: an insert that meets a conflict still takes an identity value, and numbers must stay dense, since a
/// bitmap of procedures is as long as the highest number in it.
pub async fn numbers_of(
    tx: &mut sqlx::PgConnection,
    numbering: Numbering,
    codes: &[&str],
) -> Result<HashMap<String, i32>, sqlx::Error> {
    let table = numbering.table();
    let rows: Vec<(String, i32)> = sqlx::query_as(&format!(
        "WITH new AS (
             INSERT INTO {table} (code)
             SELECT DISTINCT t.code FROM UNNEST($1::text[]) AS t(code)
             WHERE NOT EXISTS (SELECT FROM {table} n WHERE n.code = t.code)
             ORDER BY 1
             ON CONFLICT DO NOTHING
             RETURNING code, number)
         SELECT code, number FROM new
         UNION ALL
         SELECT code, number FROM {table} WHERE code = ANY($1)"
    ))
    .bind(codes)
    .fetch_all(&mut *tx)
    .await?;
    let mut numbers: HashMap<String, i32> = rows.into_iter().collect();
    if codes.iter().any(|code| !numbers.contains_key(*code)) {
        // Numbered by another transaction that committed after this statement's snapshot was taken (its insert
        // was a conflict here): a new statement sees it.
        let rows: Vec<(String, i32)> =
            sqlx::query_as(&format!("SELECT code, number FROM {table} WHERE code = ANY($1)"))
                .bind(codes)
                .fetch_all(&mut *tx)
                .await?;
        numbers.extend(rows);
    }
    Ok(numbers)
}

/// The numbers of a batch's centers and procedures.
pub struct BatchNumbers {
    pub centers: HashMap<String, i32>,
    pub procedures: HashMap<String, i32>,
}

impl BatchNumbers {
    /// Numbers `centers` and `procedures` (each listed once), giving new codes their numbers.
    pub async fn of(
        tx: &mut sqlx::PgConnection,
        centers: &[&str],
        procedures: &[&str],
    ) -> Result<BatchNumbers, sqlx::Error> {
        let centers = numbers_of(&mut *tx, Numbering::Centers, centers).await?;
        let procedures = numbers_of(&mut *tx, Numbering::Procedures, procedures).await?;
        Ok(BatchNumbers { centers, procedures })
    }

    /// The numbers of a (center, procedure) pair of the batch.
    pub fn pair(&self, center: &str, procedure: &str) -> (i32, i32) {
        (self.centers[center], self.procedures[procedure])
    }
}
