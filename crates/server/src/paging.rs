//! Opaque page tokens for keyset paging: the key of the last row of a page, hex-encoded so that any code
//! survives the trip and a client is not tempted to build one.

const SEPARATOR: char = '\u{1f}';

pub fn encode(key: &[&str]) -> String {
    key.join(&SEPARATOR.to_string()).bytes().map(|b| format!("{b:02x}")).collect()
}

/// The `parts` fields of a token made by [`encode`].
pub fn decode(token: &str, parts: usize) -> Result<Vec<String>, String> {
    let invalid = || "is not a token from a previous response".to_string();
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return Err(invalid());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let fields: Vec<String> = text.split(SEPARATOR).map(str::to_owned).collect();
    // Keys are codes, dates and times: a control character means the token was forged.
    if fields.len() == parts && !fields.iter().any(|f| f.chars().any(char::is_control)) {
        Ok(fields)
    } else {
        Err(invalid())
    }
}

/// The page size to use: the default for 0, otherwise the request's when it is within `max`.
pub fn page_size(requested: u32, default: u32, max: u32) -> Result<u32, String> {
    match requested {
        0 => Ok(default),
        n if n <= max => Ok(n),
        _ => Err(format!("at most {max}")),
    }
}

/// For pages keyed by one code: the page size and the code to continue after (empty for the first page), with
/// any problem recorded against `page_size` or `page_token` in `v`.
pub fn code_page(
    v: &mut onestop_domain::Violations,
    requested_size: u32,
    token: &str,
    (default, max): (u32, u32),
) -> (u32, String) {
    let size = page_size(requested_size, default, max).map_err(|reason| v.add("page_size", reason)).unwrap_or(default);
    let after = match token {
        "" => String::new(),
        token => decode(token, 1).map_err(|reason| v.add("page_token", reason)).unwrap_or_default().concat(),
    };
    (size, after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_any_text() {
        let token = encode(&["C/1 x", "2026-01-31", "2.001218.000.00.00.H38"]);
        assert_eq!(decode(&token, 3).unwrap(), ["C/1 x", "2026-01-31", "2.001218.000.00.00.H38"]);
        assert!(decode(&token, 2).is_err());
        assert!(decode("zz", 1).is_err());
        assert!(decode("é1", 1).is_err());
        assert!(decode(&encode(&["a\0b"]), 1).is_err(), "a NUL is never part of a key");
    }
}
