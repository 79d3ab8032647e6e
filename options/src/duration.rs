//! Durations as attributes and settings write them: `"100ms"`, `"2s"`, `"1m30s"`, `"1h"`.

use std::time::Duration;

const UNITS: &str = "ns, us, ms, s, m, h";

/// Parses one or more `<integer><unit>` groups, spaces allowed between groups.
///
/// # Errors
/// A message saying what is accepted, or that the duration is too large.
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "invalid duration \"{text}\": expected numbers with units ({UNITS}), like \"100ms\", \"2s\" or \"1m30s\""
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic() && c != 'µ')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let part = match unit {
            "ns" => Some(Duration::from_nanos(number)),
            "us" | "µs" => Some(Duration::from_micros(number)),
            "ms" => Some(Duration::from_millis(number)),
            "s" => Some(Duration::from_secs(number)),
            "m" | "min" => number.checked_mul(60).map(Duration::from_secs),
            "h" => number.checked_mul(3600).map(Duration::from_secs),
            _ => return Err(invalid()),
        };
        total = part
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("duration \"{text}\" is too large"))?;
    }
    Ok(total)
}

/// `duration` written as [`parse`] reads it, in its largest exact units: `"30s"`, `"1m30s"`,
/// `"100ms"`, `"1s500ms"`, `"0s"`.
#[must_use]
pub fn format(duration: Duration) -> String {
    const UNITS: [(&str, u128); 6] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    let mut nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let mut text = String::new();
    for (unit, size) in UNITS {
        let count = nanos / size;
        if count > 0 {
            text.push_str(&count.to_string());
            text.push_str(unit);
            nanos %= size;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_what_it_parses() {
        for (text, duration) in [
            ("0s", Duration::ZERO),
            ("30s", Duration::from_secs(30)),
            ("1m30s", Duration::from_secs(90)),
            ("100ms", Duration::from_millis(100)),
            ("1s500ms", Duration::from_millis(1500)),
            ("2h", Duration::from_secs(7200)),
            ("1us1ns", Duration::from_nanos(1001)),
        ] {
            assert_eq!(format(duration), text);
            assert_eq!(parse(text), Ok(duration));
        }
        let largest = Duration::MAX;
        assert_eq!(parse(&format(largest)), Ok(largest));
    }

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in ["5 parsecs", "", "ms", "10", "1.5s", "-1s", "2 s s"] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse("99999999999999999999h").is_err());
        assert!(
            parse("18446744073709551615h")
                .unwrap_err()
                .contains("too large")
        );
    }
}
