//! The eleven measure columns as the roll-up queries spell them, derived once from [`Measure::ALL`] so every
//! table and query lists them in the same (storage) order.

use std::sync::LazyLock;

use onestop_domain::Measure;

fn each(template: impl Fn(&str) -> String) -> String {
    Measure::ALL.iter().map(|m| template(m.name())).collect::<Vec<_>>().join(", ")
}

/// `received_direct, received_online, …`
pub static COLUMNS: LazyLock<String> = LazyLock::new(|| each(str::to_owned));

/// `received_direct + received_online + …`: zero exactly when every measure of a row is (they are counts).
pub static TOTAL: LazyLock<String> = LazyLock::new(|| Measure::ALL.map(|m| m.name()).join(" + "));

/// `ARRAY[received_direct, …]`: one row's measures as an array.
pub static ARRAY: LazyLock<String> = LazyLock::new(|| format!("ARRAY[{}]", *COLUMNS));

/// `ARRAY[sum(received_direct), …]::bigint[]`: the measures summed over a group, as an array.
pub static SUMS_ARRAY: LazyLock<String> =
    LazyLock::new(|| format!("ARRAY[{}]::bigint[]", each(|c| format!("sum({c})"))));

/// `sum(c.received_direct), …`: the measures of `cell c` summed over a group.
pub static CELL_SUMS: LazyLock<String> = LazyLock::new(|| each(|c| format!("sum(c.{c})")));

/// `received_direct = r.received_direct + EXCLUDED.received_direct, …`: an upsert that adds.
pub static ADD_EXCLUDED: LazyLock<String> = LazyLock::new(|| each(|c| format!("{c} = r.{c} + EXCLUDED.{c}")));

/// `received_direct = EXCLUDED.received_direct, …`: an upsert that replaces.
pub static SET_EXCLUDED: LazyLock<String> = LazyLock::new(|| each(|c| format!("{c} = EXCLUDED.{c}")));

/// `$first::bigint[], …` (or of another `element` type): eleven array parameters, one per measure in storage
/// order, from `$first` on (for `UNNEST` of a batch's measures bound as arrays of numbers, with no text to parse).
/// A table that keeps its measures in 32 bits takes `int`.
pub fn array_parameters(first: usize, element: &str) -> String {
    (first..first + Measure::ALL.len()).map(|i| format!("${i}::{element}[]")).collect::<Vec<_>>().join(", ")
}
