//! Text as the pages print it: escaped for HTML, numbers and dates as read in Vietnam (a comma before decimals,
//! dots between thousands, day/month/year, times in Vietnam's zone).

use chrono::{DateTime, NaiveDate, Utc};

/// `text` safe inside HTML text and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// 1234567 as "1.234.567".
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// A ratio as a percentage with two decimals: 0.98765 as "98,77 %".
pub fn percent(ratio: f64) -> String {
    format!("{} %", decimal(ratio * 100.0, 2))
}

/// A difference of ratios in percentage points, signed: "+1,25 điểm %".
pub fn points_change(delta: f64) -> String {
    let sign = if delta > 0.0 {
        "+"
    } else if delta < 0.0 {
        "−"
    } else {
        "±"
    };
    format!("{sign}{} điểm %", decimal((delta * 100.0).abs(), 2))
}

/// `value` with `places` decimals and a decimal comma.
pub fn decimal(value: f64, places: usize) -> String {
    format!("{value:.places$}").replace('.', ",")
}

/// An ISO date ("2026-11-30") as "30/11/2026"; anything else as it is.
pub fn date(iso: &str) -> String {
    match iso.parse::<NaiveDate>() {
        Ok(day) => day.format("%d/%m/%Y").to_string(),
        Err(_) => iso.to_owned(),
    }
}

/// An instant as "14:05:09 30/11/2026", in Vietnam (UTC+7).
pub fn instant(at: DateTime<Utc>) -> String {
    (at + chrono::Duration::hours(7)).format("%H:%M:%S %d/%m/%Y").to_string()
}

/// A protobuf timestamp as [`instant`] prints it.
pub fn timestamp(at: &prost_types::Timestamp) -> String {
    match DateTime::from_timestamp(at.seconds, at.nanos.clamp(0, 999_999_999) as u32) {
        Some(at) => instant(at),
        None => String::from("?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_in_vietnam() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1_234_567), "1.234.567");
        assert_eq!(count(100), "100");
        assert_eq!(percent(0.98765), "98,77 %");
        assert_eq!(points_change(0.0125), "+1,25 điểm %");
        assert_eq!(points_change(-0.5), "−50,00 điểm %");
        assert_eq!(date("2026-03-05"), "05/03/2026");
    }

    #[test]
    fn markup_and_control_characters_are_escaped() {
        assert_eq!(escape("<a href=\"x\">&'\u{0}"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;\u{FFFD}");
        assert_eq!(escape("Phường Đồng Hới"), "Phường Đồng Hới");
    }
}
