//! Between the ledger's plain data (`Value`) and Rhai's `Dynamic`.
//!
//! Everything a policy stores or sends (data stores, follow-up parameters, request bodies)
//! becomes a `Value`, which is what the log can hold: strings, integers, booleans, arrays,
//! maps, and unit as null. A member is stored as its name, and a clock as its integer (the
//! time tracker cannot follow it into storage, so that makes the evaluation time-opaque).
//! Anything else is refused with a runtime error naming the type, never silently dropped.

use rhai::{Array, Dynamic, ImmutableString, Map};

use ostrom_schemas::limits::VALUE_DEPTH_MAX;
use ostrom_schemas::{Params, Value};

use super::api::{type_name, MemberValue};
use super::clock::Clock;

pub fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(flag) => Dynamic::from_bool(*flag),
        Value::Int(number) => Dynamic::from_int(*number),
        Value::Str(text) => Dynamic::from(ImmutableString::from(text.as_str())),
        Value::List(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Map(map) => Dynamic::from_map(params_to_map(map)),
    }
}

pub fn params_to_map(params: &Params) -> Map {
    params
        .iter()
        .map(|(key, value)| (key.as_str().into(), to_dynamic(value)))
        .collect()
}

/// The conversion, and whether a clock was flattened on the way.
pub fn to_value(value: &Dynamic) -> Result<(Value, bool), String> {
    let mut clocks = false;
    let converted = convert(value, 0, &mut clocks)?;
    Ok((converted, clocks))
}

fn convert(value: &Dynamic, depth: usize, clocks: &mut bool) -> Result<Value, String> {
    let value = value.flatten_clone();
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(flag) = value.as_bool() {
        return Ok(Value::Bool(flag));
    }
    if let Ok(number) = value.as_int() {
        return Ok(Value::Int(number));
    }
    if let Ok(character) = value.as_char() {
        return Ok(Value::Str(character.to_string()));
    }
    if value.is_string() {
        return Ok(Value::Str(value.into_string().unwrap_or_default()));
    }
    if let Some(member) = value.read_lock::<MemberValue>() {
        return Ok(Value::Str(member.name.to_string()));
    }
    if let Some(clock) = value.read_lock::<Clock>() {
        *clocks = true;
        return Ok(Value::Int(clock.value));
    }
    if value.is_array() || value.is_map() {
        if depth >= VALUE_DEPTH_MAX {
            return Err(format!(
                "data nests more than {VALUE_DEPTH_MAX} arrays or maps deep"
            ));
        }
        if value.is_array() {
            let items = value.into_array().unwrap_or_default();
            return items
                .iter()
                .map(|item| convert(item, depth + 1, clocks))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List);
        }
        let map = value.cast::<Map>();
        return map
            .iter()
            .map(|(key, item)| Ok((key.to_string(), convert(item, depth + 1, clocks)?)))
            .collect::<Result<_, String>>()
            .map(Value::Map);
    }
    Err(format!(
        "a {} cannot be stored or sent: use strings, integers, booleans, arrays, maps or ()",
        type_name(&value)
    ))
}

/// Member names from a script value: an array of names or members, a single name or
/// member, or unit (none).
pub fn member_names(value: &Dynamic) -> Result<Vec<String>, String> {
    let value = value.flatten_clone();
    if value.is_unit() {
        return Ok(Vec::new());
    }
    if value.is_array() {
        let items: Array = value.into_array().unwrap_or_default();
        return items.iter().map(member_name).collect();
    }
    member_name(&value).map(|name| vec![name])
}

fn member_name(value: &Dynamic) -> Result<String, String> {
    let value = value.flatten_clone();
    if let Some(member) = value.read_lock::<MemberValue>() {
        return Ok(member.name.to_string());
    }
    if value.is_string() {
        return Ok(value.into_string().unwrap_or_default());
    }
    Err(format!(
        "expected a member or a member's name, not a {}",
        type_name(&value)
    ))
}
