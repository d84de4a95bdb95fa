//! Where a record came from, so errors name what the sender can find: a field of the request
//! (`units[3].parent_code`) or a cell of an uploaded file (`rows[5].parent_code`).

pub enum Locator<'a> {
    /// Records of a repeated request field, such as `units` or `decision.items`.
    Request(&'static str),
    /// Rows of a file, by the row number of each record.
    Rows(&'a [usize]),
}

impl Locator<'_> {
    /// The path of field `name` of record `index`. For file rows, the field path of the proto becomes the
    /// column name: `procedure.processing_time.unit` is the `processing_time_unit` column.
    pub fn field(&self, index: usize, name: &str) -> String {
        match self {
            Locator::Request(list) => format!("{list}[{index}].{name}"),
            Locator::Rows(rows) => {
                let column = name.strip_prefix("procedure.").unwrap_or(name).replace('.', "_");
                format!("rows[{}].{column}", rows.get(index).copied().unwrap_or(index))
            }
        }
    }

    /// The path of the record as a whole.
    pub fn record(&self, index: usize) -> String {
        match self {
            Locator::Request(list) => format!("{list}[{index}]"),
            Locator::Rows(rows) => format!("rows[{}]", rows.get(index).copied().unwrap_or(index)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_rows_name_columns() {
        let rows = [2, 3, 7];
        let locator = Locator::Rows(&rows);
        assert_eq!(locator.field(2, "procedure.processing_time.unit"), "rows[7].processing_time_unit");
        assert_eq!(Locator::Request("decision.items").field(1, "action"), "decision.items[1].action");
    }
}
