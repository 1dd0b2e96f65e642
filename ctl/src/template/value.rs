//! A JSON value that keeps its object keys in the order they came in.
//!
//! serde_json's own `Value` sorts keys (its `preserve_order` feature would
//! change key order for every crate in the workspace, including ones that
//! hash the JSON they write), but docker prints inspect objects and
//! `{{json .State}}` in its structs' field order, and berthd sends them in
//! that order. So templates and inspect work on this type instead.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON value; objects are key/value pairs in document order.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Json {
    #[default]
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses JSON text, keeping key order.
    pub fn parse(text: &str) -> Result<Json, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Converts any serializable value (struct field order is kept).
    pub fn from_serialize<T: Serialize>(value: &T) -> Result<Json, serde_json::Error> {
        Json::parse(&serde_json::to_string(value)?)
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// An object from string pairs (the rows of `ps --format`).
    pub fn object_of_strings<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Json {
        Json::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Json::String(v)))
                .collect(),
        )
    }

    /// Compact JSON text, as docker's `json` template function writes it.
    pub fn to_compact(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Pretty JSON with docker's four-space indentation.
    pub fn to_pretty(&self) -> String {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        // Serializing this type into memory cannot fail.
        let _ = self.serialize(&mut serializer);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Go template truthiness: false, 0, null and empty values are false.
    pub fn truthy(&self) -> bool {
        match self {
            Json::Null => false,
            Json::Bool(b) => *b,
            Json::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Json::String(s) => !s.is_empty(),
            Json::Array(a) => !a.is_empty(),
            Json::Object(o) => !o.is_empty(),
        }
    }
}

/// Go's `fmt.Print` of a decoded JSON value: strings bare, arrays as
/// `[a b]`, objects as `map[k:v]` with sorted keys, null as `<no value>`
/// (what a template prints for a missing map key).
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("<no value>"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Number(n) => write!(f, "{n}"),
            Json::String(s) => f.write_str(s),
            Json::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    match item {
                        Json::Null => f.write_str("<nil>")?,
                        other => write!(f, "{other}")?,
                    }
                }
                f.write_str("]")
            }
            Json::Object(members) => {
                let mut sorted: Vec<&(String, Json)> = members.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                f.write_str("map[")?;
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    match v {
                        Json::Null => write!(f, "{k}:<nil>")?,
                        other => write!(f, "{k}:{other}")?,
                    }
                }
                f.write_str("]")
            }
        }
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(n) => n.serialize(serializer),
            Json::String(s) => serializer.serialize_str(s),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        Json::deserialize(d)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            // A repeated key replaces the earlier value, as in serde_json.
            match members.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => members.push((key, value)),
            }
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_both_ways() {
        let text =
            r#"{"Id":"x","Created":"t","State":{"Status":"running","Pid":7},"A":[1,null,true]}"#;
        let v = Json::parse(text).unwrap();
        assert_eq!(v.to_compact(), text);
        assert_eq!(
            v.get("State").unwrap().to_compact(),
            r#"{"Status":"running","Pid":7}"#
        );
    }

    #[test]
    fn pretty_uses_four_spaces() {
        let v = Json::parse(r#"[{"a":{},"b":[]}]"#).unwrap();
        assert_eq!(
            v.to_pretty(),
            "[\n    {\n        \"a\": {},\n        \"b\": []\n    }\n]"
        );
    }

    #[test]
    fn prints_like_go() {
        let v = Json::parse(r#"{"b":[1,"x",null],"a":{"z":1,"y":null},"n":null,"f":1.5}"#).unwrap();
        assert_eq!(v.get("b").unwrap().to_string(), "[1 x <nil>]");
        assert_eq!(v.get("a").unwrap().to_string(), "map[y:<nil> z:1]");
        assert_eq!(v.get("n").unwrap().to_string(), "<no value>");
        assert_eq!(v.get("f").unwrap().to_string(), "1.5");
    }

    #[test]
    fn truthiness() {
        for (text, want) in [
            ("null", false),
            ("false", false),
            ("0", false),
            ("\"\"", false),
            ("[]", false),
            ("{}", false),
            ("1", true),
            ("\"x\"", true),
            ("[0]", true),
        ] {
            assert_eq!(Json::parse(text).unwrap().truthy(), want, "{text}");
        }
    }
}
