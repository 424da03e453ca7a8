//! Small accessors over describe-* JSON: absent and mistyped fields read as absent.

use crate::config::Tag;
use serde_json::Value;

pub(super) fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str).filter(|x| !x.is_empty())
}

pub(super) fn string(v: &Value, k: &str) -> String {
    s(v, k).unwrap_or("").to_string()
}

pub(super) fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(super) fn b(v: &Value, k: &str) -> Option<bool> {
    v.get(k).and_then(Value::as_bool)
}

pub(super) fn i(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

pub(super) fn parse<T: std::str::FromStr>(v: &Value, k: &str) -> Option<T> {
    s(v, k).and_then(|x| x.parse().ok())
}

/// `State` or `State.State` style fields (`CidrBlockState: {State: associated}`).
pub(super) fn state<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    match v.get(k) {
        Some(Value::String(x)) => Some(x.as_str()),
        Some(o @ Value::Object(_)) => s(o, "State"),
        _ => None,
    }
}

/// Only the `Name` tag: it makes the config readable; the others say nothing to vpcfwd.
pub(super) fn name_tag(v: &Value) -> Vec<Tag> {
    let tags = if v.get("Tags").is_some() {
        arr(v, "Tags")
    } else {
        arr(v, "TagSet")
    };
    tags.iter()
        .filter(|t| s(t, "Key") == Some("Name"))
        .map(|t| Tag {
            key: "Name".into(),
            value: string(t, "Value"),
        })
        .collect()
}
