//! Projections: user structs that derive `Entity` to read some attributes and links of a namespace.

use super::Namespace;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A struct that a query can decode rows of `Namespace` into, asking only for its fields.
///
/// Derived by `#[derive(instant_admin::Entity)]`; also implemented by every generated row struct (which
/// asks for all attributes).
pub trait Projection: DeserializeOwned + Send + 'static {
    /// The namespace the rows come from.
    type Namespace: Namespace;
    /// The namespace's name on the wire.
    const NAMESPACE: &'static str;
    /// The InstaQL node asking for this struct's fields and nested links, e.g.
    /// `{"$": {"fields": ["title"]}, "owner": {"$": {"fields": ["name"]}}}`.
    fn node() -> Value;
}

/// Fails to compile unless `P` projects namespace `namespace` (used by derived code for link fields).
pub const fn assert_projection_of<P: Projection>(namespace: &str) {
    let a = P::NAMESPACE.as_bytes();
    let b = namespace.as_bytes();
    let mut same = a.len() == b.len();
    let mut i = 0;
    while same && i < a.len() {
        same = a[i] == b[i];
        i += 1;
    }
    if !same {
        panic!("this link field's type projects another namespace than the one the link points to");
    }
}

/// Value kinds of schema attributes, for checking the field types of projections.
pub mod kind {
    use std::marker::PhantomData;

    /// `i.string()`
    pub struct String;
    /// `i.number()`
    pub struct Number;
    /// `i.boolean()`
    pub struct Boolean;
    /// `i.date()`
    pub struct Date;
    /// `i.json()` and `i.any()`
    pub struct Json;
    /// An optional attribute of kind `K`: its field must be an `Option`.
    pub struct Optional<K>(PhantomData<K>);
}

/// A Rust type that can hold the values of an attribute of kind `K`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold values of this attribute (`{K}`)",
    label = "this field's type does not fit the schema",
    note = "string -> String or a generated enum, number -> f64 or an integer, boolean -> bool, date -> DateTime, json/any -> any deserializable type; optional attributes need `Option<...>`"
)]
pub trait Fits<K> {}

impl Fits<kind::String> for String {}
impl Fits<kind::String> for Box<str> {}
impl<N> Fits<kind::String> for super::Id<N> {}
impl Fits<kind::String> for Value {}
impl Fits<kind::Number> for Value {}
impl Fits<kind::Boolean> for Value {}
impl Fits<kind::Date> for Value {}
impl Fits<kind::Boolean> for bool {}
macro_rules! fits_number {
    ($($t:ty),*) => {$( impl Fits<kind::Number> for $t {} )*};
}
fits_number!(f64, f32, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
#[cfg(any(feature = "chrono", feature = "time"))]
impl Fits<kind::Date> for super::DateTime {}
impl<T: DeserializeOwned> Fits<kind::Json> for T {}
impl<K, T: Fits<K>> Fits<kind::Optional<K>> for Option<T> {}

/// Fails to compile unless `T` fits kind `K` (used by derived code, spanned on the field's type).
pub fn fits<T: Fits<K>, K>() {}
