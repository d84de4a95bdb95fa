//! Names beside codes: answers that list centers, procedures or agencies name them as aggregation's copy of the
//! catalogue knows them. A procedure is named by its latest version (a name amended by a later decision is the
//! name an office recognises today); a code the copy does not know has no entry.

use std::collections::HashMap;

async fn lookup(
    db: &mut sqlx::PgConnection,
    sql: &str,
    codes: &[String],
) -> Result<HashMap<String, String>, sqlx::Error> {
    if codes.is_empty() {
        return Ok(HashMap::new());
    }
    let mut unique = codes.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let rows: Vec<(String, String)> = sqlx::query_as(sql).bind(&unique).fetch_all(&mut *db).await?;
    Ok(rows.into_iter().collect())
}

pub async fn centers(db: &mut sqlx::PgConnection, codes: &[String]) -> Result<HashMap<String, String>, sqlx::Error> {
    lookup(db, "SELECT code, name FROM center WHERE code = ANY($1)", codes).await
}

pub async fn agencies(db: &mut sqlx::PgConnection, codes: &[String]) -> Result<HashMap<String, String>, sqlx::Error> {
    lookup(db, "SELECT code, name FROM agency WHERE code = ANY($1)", codes).await
}

pub async fn procedures(db: &mut sqlx::PgConnection, codes: &[String]) -> Result<HashMap<String, String>, sqlx::Error> {
    lookup(
        db,
        "SELECT DISTINCT ON (code) code, name FROM procedure_version WHERE code = ANY($1)
         ORDER BY code, valid_from DESC",
        codes,
    )
    .await
}

/// The names the late-case answers need: each case's procedure, center and resolving agency.
#[derive(Debug, Default)]
pub struct CaseNames {
    pub procedures: HashMap<String, String>,
    pub centers: HashMap<String, String>,
    pub agencies: HashMap<String, String>,
}

impl CaseNames {
    pub async fn of(db: &mut sqlx::PgConnection, cases: &[crate::case_record::CaseRow]) -> Result<Self, sqlx::Error> {
        let codes =
            |f: fn(&crate::case_record::CaseRow) -> &String| cases.iter().map(|c| f(c).clone()).collect::<Vec<_>>();
        Ok(CaseNames {
            procedures: procedures(db, &codes(|c| &c.procedure_code)).await?,
            centers: centers(db, &codes(|c| &c.center_code)).await?,
            agencies: agencies(db, &codes(|c| &c.resolving_agency_code)).await?,
        })
    }
}
