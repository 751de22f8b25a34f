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
        ("date", Value::String(s)) => parse_date_ms(s).is_some(),
        _ => false,
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The civil date (y, m, d) of a day count since the epoch.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats epoch milliseconds as `yyyy-MM-ddTHH:mm:ssZ`.
pub fn format_ts(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses an ISO-8601 date or date-time (`2024-01-02`, `2024-01-02T03:04:05.678Z`,
/// offsets `+01:00`, a space instead of `T`) into epoch milliseconds.
pub fn parse_date_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = match s.find(['T', ' ']) {
        Some(i) => (s.get(..i)?, Some(s.get(i + 1..)?)),
        None => (s, None),
    };
    let mut dp = date.split('-');
    let y = num(dp.next()?)?;
    let m = num(dp.next()?)?;
    let d = num(dp.next()?)?;
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) * 86_400_000;
    if let Some(t) = time {
        let (clock, offset_ms) =
            if let Some(c) = t.strip_suffix('Z').or_else(|| t.strip_suffix('z')) {
                (c, 0)
            } else if let Some(i) = t.rfind(['+', '-']) {
                let (c, off) = t.split_at(i);
                let sign = if off.starts_with('-') { -1 } else { 1 };
                let off = off.get(1..)?;
                let (oh, om) = match off.split_once(':') {
                    Some((h, m)) => (num(h)?, num(m)?),
                    None if off.len() == 4 => (num(off.get(..2)?)?, num(off.get(2..)?)?),
                    None => (num(off)?, 0),
                };
                (c, sign * (oh * 3600 + om * 60) * 1000)
            } else {
                (t, 0)
            };
        let mut cp = clock.split(':');
        let h = num(cp.next()?)?;
        let mi = num(cp.next()?)?;
        let (sec, frac) = match cp.next() {
            Some(sf) => match sf.split_once('.') {
                Some((a, b)) => (num(a)?, b),
                None => (num(sf)?, ""),
            },
            None => (0, ""),
        };
        if cp.next().is_some() || h > 24 || mi > 59 || sec > 60 {
            return None;
        }
        let mut frac_ms = 0;
        if !frac.is_empty() {
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let three: String = frac.chars().chain("000".chars()).take(3).collect();
            frac_ms = num(&three)?;
        }
        ms += (h * 3600 + mi * 60 + sec) * 1000 + frac_ms - offset_ms;
    }
    Some(ms)
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
        assert_eq!(parse_date_ms("tomorrow"), None);
        assert_eq!(format_ts(86_400_000 + 61_000), "1970-01-02T00:01:01Z");
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
