//! The keys the parser accepts, as the documentation names them: every top-level key of
//! a unit (or slice) file and every key of its nested maps, dotted (`restart.limit.burst`,
//! `resources.io_max.device`). Read from the parser's own key lists, so a key added to the
//! parser shows up here by itself; `tests/docs.rs` checks `docs/units.md` against it.

use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::raw::{RawSlice, RawUnit, TopLevel};

/// Every key a unit file accepts: the top-level keys, then the nested ones, dotted.
pub fn unit_keys() -> Vec<String> {
    with_nested(RawUnit::KEYS)
}

/// Every key a slice file (`kind: slice`) accepts, the same way.
pub fn slice_keys() -> Vec<String> {
    with_nested(RawSlice::KEYS)
}

/// The top-level keys of a unit file, in the parser's order.
pub fn unit_top_keys() -> &'static [&'static str] {
    RawUnit::KEYS
}

/// The top-level keys of a slice file, in the parser's order.
pub fn slice_top_keys() -> &'static [&'static str] {
    RawSlice::KEYS
}

/// The dotted prefixes of nested maps with a fixed key list (`restart`,
/// `restart.limit`, …), each with its keys. `env` and `rlimits` are open maps (any
/// variable name; any rlimit name) and are not listed.
pub fn nested_maps() -> Vec<(&'static str, &'static [&'static str])> {
    let mut maps = super::nested::nested_keys();
    maps.extend(super::probes::probe_keys());
    maps
}

fn with_nested(top: &[&str]) -> Vec<String> {
    let nested = nested_maps();
    let mut out: Vec<String> = top.iter().map(|k| k.to_string()).collect();
    for (prefix, keys) in &nested {
        let root = prefix.split('.').next().unwrap_or(prefix);
        if top.contains(&root) {
            out.extend(keys.iter().map(|k| format!("{prefix}.{k}")));
        }
    }
    out
}

/// The field names of a struct that derives `Deserialize`: serde passes them to
/// `deserialize_struct`, which this deserializer records and then refuses.
pub(super) fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut capture = Capture(&[]);
    let _ = T::deserialize(&mut capture);
    capture.0
}

struct Capture(&'static [&'static str]);

impl<'de> Deserializer<'de> for &mut Capture {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only structs are read"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = fields;
        Err(de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_come_from_the_parser() {
        let keys = unit_keys();
        for k in [
            "exec",
            "sockets",
            "restart.limit.interval",
            "watch.debounce",
            "resources.io_max.wiops",
            "stop.signal",
            "log.timestamps",
            "sockets.backlog",
            "ready.fd",
            "health.severity",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
        }
        let slice = slice_keys();
        assert!(slice.iter().any(|x| x == "max_units"));
        assert!(slice.iter().any(|x| x == "resources.pids_max"));
        assert!(!slice.iter().any(|x| x.starts_with("restart")));
        for (prefix, keys) in nested_maps() {
            assert!(!keys.is_empty(), "{prefix}: no keys recorded");
        }
    }
}
