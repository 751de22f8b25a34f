//! Conversions from Rust values to attribute values.

use serde_json::Value;

/// A Rust value that can be written to (or compared with) an attribute whose values are `T`.
///
/// Implemented for `String`-like values into string attributes, all primitive numbers into number
/// attributes, `bool`, date-times into date attributes, anything convertible into a
/// `serde_json::Value` into json attributes, and each generated enum into its own attributes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a value of this attribute, whose values are `{T}`",
    label = "expected a value convertible to `{T}`"
)]
pub trait IntoAttr<T> {
    /// The value as JSON, as sent on the wire.
    fn into_attr(self) -> Value;
}

impl IntoAttr<String> for String {
    fn into_attr(self) -> Value {
        Value::String(self)
    }
}

impl IntoAttr<String> for &str {
    fn into_attr(self) -> Value {
        Value::String(self.to_string())
    }
}

impl IntoAttr<String> for &String {
    fn into_attr(self) -> Value {
        Value::String(self.clone())
    }
}

impl IntoAttr<String> for std::borrow::Cow<'_, str> {
    fn into_attr(self) -> Value {
        Value::String(self.into_owned())
    }
}

impl IntoAttr<String> for Box<str> {
    fn into_attr(self) -> Value {
        Value::String(self.into())
    }
}

impl IntoAttr<bool> for bool {
    fn into_attr(self) -> Value {
        Value::Bool(self)
    }
}

macro_rules! numbers {
    ($($t:ty),*) => {$(
        impl IntoAttr<f64> for $t {
            fn into_attr(self) -> Value {
                Value::from(self)
            }
        }
    )*};
}

numbers!(i8, i16, i32, i64, u8, u16, u32, u64, isize, usize);

impl IntoAttr<f64> for f64 {
    fn into_attr(self) -> Value {
        serde_json::Number::from_f64(self)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

impl IntoAttr<f64> for f32 {
    fn into_attr(self) -> Value {
        IntoAttr::<f64>::into_attr(f64::from(self))
    }
}

impl<V: Into<Value>> IntoAttr<Value> for V {
    fn into_attr(self) -> Value {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc<T, V: IntoAttr<T>>(v: V) -> Value {
        v.into_attr()
    }

    #[test]
    fn values_encode() {
        assert_eq!(enc::<String, _>("a"), json!("a"));
        assert_eq!(enc::<f64, _>(3_u8), json!(3));
        assert_eq!(enc::<f64, _>(1.5_f64), json!(1.5));
        assert_eq!(enc::<f64, _>(f64::NAN), Value::Null);
        assert_eq!(enc::<bool, _>(true), json!(true));
        assert_eq!(enc::<Value, _>(json!({"a": [1]})), json!({"a": [1]}));
    }
}
