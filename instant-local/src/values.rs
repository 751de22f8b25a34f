//! JSON value helpers: canonical storage form, equality, ordering, dates and LIKE.

use serde_json::Value;
use std::cmp::Ordering;

/// Rewrites integral floats as integers, recursively, so equal numbers store equally.
pub fn normalize(v: Value) -> Value {
    match v {
        Value::Number(n) => {
            if n.is_f64() {
                if let Some(f) = n.as_f64() {
                    if f.fract() == 0.0 && f.abs() < 9.0e15 {
                        return Value::from(f as i64);
                    }
                }
            }
            Value::Number(n)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        other => other,
    }
}

/// The text stored in the `v` column for a value.
pub fn encode(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_string())
}

/// JSON equality where numbers compare numerically.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        _ => a == b,
    }
}

/// The JSON type name used in error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `v` has the checked data type `t` (null always passes).
pub fn matches_type(t: &str, v: &Value) -> bool {
    match (t, v) {
        (_, Value::Null) => true,
        ("string", Value::String(_)) => true,
        ("number", Value::Number(_)) => true,
        ("boolean", Value::Bool(_)) => true,
        ("date", Value::Number(_)) => true,
        // The relative words parse, but the real server refuses them as stored or compared-for-
        // equality values (client and server could disagree on what "today" is).
        ("date", Value::String(s)) => {
            !matches!(s.as_str(), "now" | "today" | "tomorrow" | "yesterday")
                && parse_date_ms(s).is_some()
        }
        _ => false,
    }
}

/// Formats epoch milliseconds as `yyyy-MM-ddTHH:mm:ssZ`.
pub fn format_ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Date-times with an offset (`Z`, `+01:00`, `+0100`, `+01`), as the real server's zoned
/// formatters and ISO parser take them.
const ZONED_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%a %b %d %Y %H:%M:%S GMT%#z",
];

/// Date-times without an offset, read as UTC.
const LOCAL_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%m/%d/%Y, %I:%M:%S %p",
];

/// Dates, read as midnight UTC.
const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%m-%d-%Y", "%m/%d/%Y", "%a %b %d %Y"];

/// One pass of the real server's date parsers (`date-str->instant` in its `triple.clj`).
fn date_str_ms(s: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let zoned = ZONED_FORMATS
        .iter()
        .find_map(|f| DateTime::parse_from_str(s, f).ok())
        .or_else(|| DateTime::parse_from_rfc2822(s).ok())
        .map(|d| d.timestamp_millis());
    let local = || {
        LOCAL_FORMATS
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .map(|d| d.and_utc().timestamp_millis())
    };
    let date = || {
        DATE_FORMATS
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc().timestamp_millis())
    };
    zoned.or_else(local).or_else(date)
}

/// The special values the real server takes (PostgreSQL's): `epoch`, `now`, `today`,
/// `tomorrow`, `yesterday`, `infinity`, `-infinity`.
fn special_date_ms(s: &str, now: i64) -> Option<i64> {
    const DAY: i64 = 86_400_000;
    let today = now.div_euclid(DAY) * DAY;
    Some(match s {
        "epoch" => 0,
        "infinity" => 9_223_372_036_825_200_000,
        "-infinity" => -9_223_372_036_832_400_000,
        "now" => now,
        "today" => today,
        "tomorrow" => today + DAY,
        "yesterday" => today - DAY,
        _ => return None,
    })
}

/// Parses a date string as the real server does (`parse-date-value`): ISO-8601 with or without
/// time and offset, `2025-01-15 20:53:08`, `8/4/2025, 11:02:31 PM`, `Wed Jul 09 2025`, RFC 1123,
/// a JSON-quoted date, surrounding spaces, and the special values (`now`, `today`, ...). In epoch
/// milliseconds.
pub fn parse_date_ms(s: &str) -> Option<i64> {
    date_str_ms(s)
        .or_else(|| {
            serde_json::from_str::<String>(s)
                .ok()
                .as_deref()
                .and_then(date_str_ms)
        })
        .or_else(|| date_str_ms(s.trim()))
        .or_else(|| special_date_ms(s, now_ms()))
}

/// A date value (epoch ms number or date string) as epoch milliseconds.
pub fn date_ms(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_date_ms(s).map(|x| x as f64),
        _ => None,
    }
}

/// Orders two non-null values of the same checked type (`date` compares instants).
pub fn compare(checked: Option<&str>, a: &Value, b: &Value) -> Option<Ordering> {
    if checked == Some("date") {
        return date_ms(a)?.partial_cmp(&date_ms(b)?);
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Sort order of possibly-missing values: null and missing first, then by [`compare`],
/// values of different kinds by kind.
pub fn sort_cmp(checked: Option<&str>, a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let rank = |v: Option<&Value>| match v {
        None | Some(Value::Null) => 0,
        Some(Value::Bool(_)) => 1,
        Some(Value::Number(_)) => 2,
        Some(Value::String(_)) => 3,
        Some(_) => 4,
    };
    match (a, b) {
        (Some(x), Some(y)) if rank(a) != 0 && rank(b) != 0 => {
            compare(checked, x, y).unwrap_or_else(|| rank(a).cmp(&rank(b)))
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// SQL LIKE: `%` matches any run, `_` one character.
pub fn like(value: &str, pattern: &str, case_insensitive: bool) -> bool {
    let (v, p): (Vec<char>, Vec<char>) = if case_insensitive {
        (
            value.to_lowercase().chars().collect(),
            pattern.to_lowercase().chars().collect(),
        )
    } else {
        (value.chars().collect(), pattern.chars().collect())
    };
    let (mut vi, mut pi) = (0usize, 0usize);
    let (mut star_p, mut star_v) = (None::<usize>, 0usize);
    while vi < v.len() {
        match p.get(pi) {
            Some('%') => {
                star_p = Some(pi);
                star_v = vi;
                pi += 1;
            }
            Some(c) if *c == '_' || Some(c) == v.get(vi) => {
                vi += 1;
                pi += 1;
            }
            _ => match star_p {
                Some(sp) => {
                    pi = sp + 1;
                    star_v += 1;
                    vi = star_v;
                }
                None => return false,
            },
        }
    }
    while p.get(pi) == Some(&'%') {
        pi += 1;
    }
    pi == p.len()
}

/// Whether `s` is a hyphenated 36-character UUID (after trimming).
pub fn is_uuid(s: &str) -> bool {
    let s = s.trim();
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok() && s.as_bytes().get(8) == Some(&b'-')
}

/// The lower-case canonical form of a UUID string, if it is one.
pub fn parse_uuid(s: &str) -> Option<String> {
    if is_uuid(s) {
        uuid::Uuid::parse_str(s.trim()).ok().map(|u| u.to_string())
    } else {
        None
    }
}

/// Deep merge (InstaML `merge`): objects merge key by key, null deletes a key.
pub fn deep_merge(old: Option<&Value>, new: &Value) -> Value {
    match (old, new) {
        (Some(Value::Object(o)), Value::Object(n)) => {
            let mut out = o.clone();
            for (k, v) in n {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = deep_merge(out.get(k), v);
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        _ => new.clone(),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_parse() {
        assert_eq!(parse_date_ms("1970-01-01T00:00:00.010Z"), Some(10));
        assert_eq!(parse_date_ms("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_date_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(format_ts(86_400_000 + 61_000), "1970-01-02T00:01:01Z");
        assert_eq!(parse_date_ms("someday"), None);
        assert_eq!(parse_date_ms("2025-01-0"), None);
        assert_eq!(parse_date_ms("2024-02-30"), None);
    }

    #[test]
    fn dates_parse_in_every_form_the_server_takes() {
        let jan2 = 1_704_153_600_000; // 2024-01-02T00:00:00Z
        let at = jan2 + (3 * 3600 + 4 * 60 + 5) * 1000; // 03:04:05
        for (text, want) in [
            ("2024-01-02T03:04:05Z", at),
            ("2024-01-02T03:04:05.250Z", at + 250),
            ("2024-01-02T04:04:05+01:00", at),
            ("2024-01-02T04:04:05+0100", at),
            ("2024-01-02T04:04:05+01", at),
            ("2024-1-2T3:4:5Z", at),
            ("2024-01-02T03:04:05", at),
            ("2024-01-02 03:04:05", at),
            ("2024-01-02 03:04", at - 5000),
            ("1/2/2024, 3:04:05 AM", at),
            ("Tue Jan 02 2024 03:04:05 GMT+0000", at),
            ("Tue, 02 Jan 2024 03:04:05 GMT", at),
            ("2024-01-02", jan2),
            ("01-02-2024", jan2),
            ("1/2/2024", jan2),
            ("Tue Jan 02 2024", jan2),
            ("\"2024-01-02\"", jan2),
            ("  2024-01-02 ", jan2),
            ("epoch", 0),
        ] {
            assert_eq!(parse_date_ms(text), Some(want), "{text}");
        }
        assert_eq!(
            special_date_ms("tomorrow", jan2 + 5),
            Some(jan2 + 86_400_000)
        );
        assert_eq!(special_date_ms("now", 42), Some(42));
        assert!(parse_date_ms("today").is_some());
    }

    #[test]
    fn like_patterns() {
        assert!(like("hello", "%ell%", false));
        assert!(like("hello", "h_llo", false));
        assert!(!like("Hello", "hello", false));
        assert!(like("Hello", "hello", true));
        assert!(!like("hello", "%x%", false));
    }

    #[test]
    fn merge_and_normalize() {
        let m = deep_merge(
            Some(&json!({"a": 1, "b": {"c": 1}})),
            &json!({"b": {"d": 2}, "a": null}),
        );
        assert_eq!(m, json!({"b": {"c": 1, "d": 2}}));
        assert_eq!(encode(&normalize(json!(1.0))), "1");
        assert!(json_eq(&json!(1), &json!(1.0)));
    }
}
