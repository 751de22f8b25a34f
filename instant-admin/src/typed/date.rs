//! Date attributes: a ms timestamp or an ISO-8601 string on the wire, a date-time in Rust.
//!
//! With the default `chrono` feature the Rust type is `chrono::DateTime<chrono::Utc>`; with `time` (and
//! `chrono` off) it is `time::OffsetDateTime`. Reading accepts both wire forms; writing sends an ISO-8601
//! string with milliseconds in UTC, as the official SDK does for a JavaScript `Date`.

/// Serde helpers shared by both date backends, written in terms of their `from_json`/`to_json`.
#[cfg(any(feature = "chrono", feature = "time"))]
macro_rules! serde_helpers {
    () => {
        impl IntoAttr<DateTime> for DateTime {
            fn into_attr(self) -> Value {
                to_json(&self)
            }
        }

        impl IntoAttr<DateTime> for &DateTime {
            fn into_attr(self) -> Value {
                to_json(self)
            }
        }

        /// Serde `serialize_with` for a date field.
        pub fn serialize<S: Serializer>(d: &DateTime, s: S) -> Result<S::Ok, S::Error> {
            to_json(d).serialize(s)
        }

        /// Serde `deserialize_with` for a date field: accepts a number or a string.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime, D::Error> {
            let v = Value::deserialize(d)?;
            from_json(&v).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "expected a date (ms timestamp or ISO-8601 string), got {v}"
                ))
            })
        }

        /// Serde helpers for an optional date field (`null` or missing is `None`).
        pub mod option {
            use super::{from_json, DateTime};
            use serde::{Deserialize, Deserializer, Serializer};
            use serde_json::Value;

            /// Serde `serialize_with` for an optional date field.
            pub fn serialize<S: Serializer>(d: &Option<DateTime>, s: S) -> Result<S::Ok, S::Error> {
                match d {
                    Some(d) => super::serialize(d, s),
                    None => s.serialize_none(),
                }
            }

            /// Serde `deserialize_with` for an optional date field.
            pub fn deserialize<'de, D: Deserializer<'de>>(
                d: D,
            ) -> Result<Option<DateTime>, D::Error> {
                match Value::deserialize(d)? {
                    Value::Null => Ok(None),
                    v => from_json(&v).map(Some).ok_or_else(|| {
                        serde::de::Error::custom(format!(
                            "expected a date (ms timestamp or ISO-8601 string), got {v}"
                        ))
                    }),
                }
            }
        }
    };
}

#[cfg(feature = "chrono")]
mod imp {
    use super::super::IntoAttr;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    /// The Rust type of date attributes.
    pub type DateTime = chrono::DateTime<chrono::Utc>;

    /// Parse a wire value: ms since the epoch (number) or an ISO-8601 / RFC 3339 string.
    pub fn from_json(v: &Value) -> Option<DateTime> {
        match v {
            Value::Number(n) => {
                let ms = n.as_f64()?;
                chrono::DateTime::from_timestamp_millis(ms.round() as i64)
            }
            Value::String(s) => {
                if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
                    return Some(d.with_timezone(&chrono::Utc));
                }
                if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
                    return Some(d.and_utc());
                }
                if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                    return d.and_hms_opt(0, 0, 0).map(|d| d.and_utc());
                }
                s.parse::<f64>()
                    .ok()
                    .and_then(|ms| chrono::DateTime::from_timestamp_millis(ms.round() as i64))
            }
            _ => None,
        }
    }

    /// The wire form written for a date: ISO-8601 with milliseconds and `Z`.
    pub fn to_json(d: &DateTime) -> Value {
        Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }

    serde_helpers!();

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        #[test]
        fn both_wire_forms_decode() {
            let a = from_json(&json!(1_700_000_000_123_i64));
            let b = from_json(&json!("2023-11-14T22:13:20.123Z"));
            assert!(a.is_some());
            assert_eq!(a, b);
            assert_eq!(
                from_json(&json!("2024-01-02")).map(|d| d.timestamp()),
                Some(1_704_153_600)
            );
            assert_eq!(from_json(&json!("tomorrow")), None);
            assert_eq!(from_json(&json!(true)), None);
        }

        #[test]
        fn dates_encode_like_javascript() {
            let d = from_json(&json!(1_700_000_000_123_i64));
            assert_eq!(
                d.map(|d| to_json(&d)),
                Some(json!("2023-11-14T22:13:20.123Z"))
            );
        }
    }
}

#[cfg(all(feature = "time", not(feature = "chrono")))]
mod imp {
    use super::super::IntoAttr;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;
    use time::format_description::well_known::{Iso8601, Rfc3339};

    /// The Rust type of date attributes.
    pub type DateTime = time::OffsetDateTime;

    fn from_millis(ms: f64) -> Option<DateTime> {
        let nanos = (ms.round() as i128).checked_mul(1_000_000)?;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
    }

    /// Parse a wire value: ms since the epoch (number) or an ISO-8601 / RFC 3339 string.
    pub fn from_json(v: &Value) -> Option<DateTime> {
        match v {
            Value::Number(n) => from_millis(n.as_f64()?),
            Value::String(s) => {
                if let Ok(d) = time::OffsetDateTime::parse(s, &Rfc3339) {
                    return Some(d.to_offset(time::UtcOffset::UTC));
                }
                if let Ok(d) = time::PrimitiveDateTime::parse(s, &Iso8601::DEFAULT) {
                    return Some(d.assume_utc());
                }
                if let Ok(d) = time::Date::parse(s, &Iso8601::DATE) {
                    return Some(d.midnight().assume_utc());
                }
                s.parse::<f64>().ok().and_then(from_millis)
            }
            _ => None,
        }
    }

    /// The wire form written for a date: ISO-8601 with milliseconds and `Z`.
    pub fn to_json(d: &DateTime) -> Value {
        let d = d.to_offset(time::UtcOffset::UTC);
        Value::String(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            d.millisecond()
        ))
    }

    serde_helpers!();

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        #[test]
        fn both_wire_forms_decode() {
            let a = from_json(&json!(1_700_000_000_123_i64));
            let b = from_json(&json!("2023-11-14T22:13:20.123Z"));
            assert!(a.is_some());
            assert_eq!(a, b);
            assert_eq!(
                from_json(&json!("2024-01-02")).map(|d| d.unix_timestamp()),
                Some(1_704_153_600)
            );
            assert_eq!(from_json(&json!("tomorrow")), None);
        }

        #[test]
        fn dates_encode_like_javascript() {
            let d = from_json(&json!(1_700_000_000_123_i64));
            assert_eq!(
                d.map(|d| to_json(&d)),
                Some(json!("2023-11-14T22:13:20.123Z"))
            );
        }
    }
}

#[cfg(any(feature = "chrono", feature = "time"))]
pub use imp::*;
