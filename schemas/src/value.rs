//! `Value`: the plain data carried by action parameters and policy data stores.
//!
//! It is JSON without floats: null, booleans, 64-bit integers, strings, lists and maps with
//! ordered keys. In JSON it is written naturally (`{"name": "town-square"}`); in the
//! canonical binary form it is a tagged enum, so encoding is a pure function of the value.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

/// A map of named values: action parameters, data stores.
pub type Params = BTreeMap<String, Value>;

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(number) => Some(*number),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    /// The nesting depth: 0 for scalars. Bounded by `limits::VALUE_DEPTH_MAX` on input.
    pub fn depth(&self) -> usize {
        match self {
            Value::List(items) => 1 + items.iter().map(Value::depth).max().unwrap_or(0),
            Value::Map(map) => 1 + map.values().map(Value::depth).max().unwrap_or(0),
            _ => 0,
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Str(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Str(text)
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Value::Int(number)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Bool(flag)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(flag) => write!(f, "{flag}"),
            Value::Int(number) => write!(f, "{number}"),
            Value::Str(text) => f.write_str(text),
            Value::List(items) => {
                f.write_str("[")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(map) => {
                f.write_str("{")?;
                for (index, (key, item)) in map.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key}: {item}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// The binary (canonical) form: a plain tagged enum. Variant indices are part of the format.
#[derive(Serialize, Deserialize)]
enum Tagged {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            match self {
                Value::Null => serializer.serialize_unit(),
                Value::Bool(flag) => serializer.serialize_bool(*flag),
                Value::Int(number) => serializer.serialize_i64(*number),
                Value::Str(text) => serializer.serialize_str(text),
                Value::List(items) => items.serialize(serializer),
                Value::Map(map) => map.serialize(serializer),
            }
        } else {
            // Borrowing would be cheaper, but values are small and this keeps the tagged
            // form defined in exactly one place.
            let tagged = match self.clone() {
                Value::Null => Tagged::Null,
                Value::Bool(flag) => Tagged::Bool(flag),
                Value::Int(number) => Tagged::Int(number),
                Value::Str(text) => Tagged::Str(text),
                Value::List(items) => Tagged::List(items),
                Value::Map(map) => Tagged::Map(map),
            };
            tagged.serialize(serializer)
        }
    }
}

thread_local! {
    /// How deep the value being decoded on this thread is nested. Decoding is recursive,
    /// so without this bound a few kilobytes of crafted bytes could overflow the stack.
    static DECODE_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

struct DepthGuard;

impl DepthGuard {
    fn enter<E: serde::de::Error>() -> Result<DepthGuard, E> {
        let depth = DECODE_DEPTH.with(|depth| {
            depth.set(depth.get() + 1);
            depth.get()
        });
        let guard = DepthGuard;
        if depth > crate::limits::VALUE_DEPTH_MAX + 1 {
            return Err(E::custom(format!(
                "values nest more than {} levels deep",
                crate::limits::VALUE_DEPTH_MAX
            )));
        }
        Ok(guard)
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DECODE_DEPTH.with(|depth| depth.set(depth.get() - 1));
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let _guard = DepthGuard::enter::<D::Error>()?;
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(JsonVisitor)
        } else {
            Ok(match Tagged::deserialize(deserializer)? {
                Tagged::Null => Value::Null,
                Tagged::Bool(flag) => Value::Bool(flag),
                Tagged::Int(number) => Value::Int(number),
                Tagged::Str(text) => Value::Str(text),
                Tagged::List(items) => Value::List(items),
                Tagged::Map(map) => Value::Map(map),
            })
        }
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null, a boolean, an integer, a string, a list or a map (fractional numbers are not allowed in the ledger)")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, flag: bool) -> Result<Value, E> {
        Ok(Value::Bool(flag))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Value, E> {
        Ok(Value::Int(number))
    }

    fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Value, E> {
        i64::try_from(number)
            .map(Value::Int)
            .map_err(|_| E::custom("integer out of range (64-bit signed)"))
    }

    fn visit_str<E>(self, text: &str) -> Result<Value, E> {
        Ok(Value::Str(text.to_owned()))
    }

    fn visit_string<E>(self, text: String) -> Result<Value, E> {
        Ok(Value::Str(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = BTreeMap::new();
        while let Some((key, item)) = access.next_entry::<String, Value>()? {
            if map.insert(key.clone(), item).is_some() {
                return Err(A::Error::custom(format!("duplicate key {key:?}")));
            }
        }
        Ok(Value::Map(map))
    }
}

impl JsonSchema for Value {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Value".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let item = generator.subschema_for::<Value>();
        schemars::json_schema!({
            "description": "Plain data: null, boolean, 64-bit integer, string, list or map (no fractional numbers).",
            "anyOf": [
                { "type": "null" },
                { "type": "boolean" },
                { "type": "integer" },
                { "type": "string" },
                { "type": "array", "items": item },
                { "type": "object", "additionalProperties": item }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Regression: crafted bytes nesting lists 10,000 deep used to overflow the stack while
    // decoding, before any signature was checked.
    #[test]
    fn deeply_nested_bytes_are_refused_not_a_stack_overflow() {
        let mut bytes = Vec::new();
        for _ in 0..10_000 {
            bytes.extend([4u8, 1]); // Value::List with one item
        }
        bytes.push(0); // Value::Null
        let error = postcard::from_bytes::<Value>(&bytes).expect_err("too deep");
        assert!(!error.to_string().is_empty());
        // A value at the limit still decodes.
        let mut value = Value::Null;
        for _ in 0..crate::limits::VALUE_DEPTH_MAX {
            value = Value::List(vec![value]);
        }
        let encoded = postcard::to_stdvec(&value).expect("encodes");
        assert_eq!(
            postcard::from_bytes::<Value>(&encoded).expect("decodes"),
            value
        );
    }

    #[test]
    fn json_refuses_fractional_numbers_and_duplicate_keys() {
        assert!(serde_json::from_str::<Value>("1.5").is_err());
        assert!(serde_json::from_str::<Value>(r#"{"a": 1, "a": 2}"#).is_err());
        assert_eq!(
            serde_json::from_str::<Value>(r#"{"a": [1, "x"]}"#)
                .expect("plain data")
                .to_string(),
            "{a: [1, x]}"
        );
    }
}
