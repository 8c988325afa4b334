//! Serde shapes shared by unit keys: commands (`Argv`), one-or-many lists, word-or-map
//! values, checked map keys and maps whose keys may appear only once.

use std::collections::HashSet;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;

use serde::de::{self, value::MapAccessDeserializer, DeserializeSeed, Deserializer, Visitor};
use serde::Deserialize;

use super::de::{arg, from_text, no_nul, Arg, EnvName, RlimitName};
use super::values;

/// A command: a list of strings (argv) or one string run by `/bin/sh -c`.
#[derive(Clone, Debug, PartialEq)]
pub struct Argv(pub Vec<String>);

impl<'de> Deserialize<'de> for Argv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Argv;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Argv, E> {
                if v.trim().is_empty() {
                    return Err(E::custom("command must not be empty"));
                }
                no_nul(v).and_then(|()| arg(v)).map_err(E::custom)?;
                Ok(Argv(vec!["/bin/sh".into(), "-c".into(), v.to_string()]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Argv, A::Error> {
                let mut argv = Vec::new();
                while let Some(Arg(arg)) = seq.next_element()? {
                    argv.push(arg);
                }
                match argv.first() {
                    None => Err(de::Error::custom("command list must not be empty")),
                    Some(first) if first.is_empty() => Err(de::Error::custom(
                        "the program (first element) must not be empty",
                    )),
                    Some(_) => Ok(Argv(argv)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// One value or a list of them (`requires: db` is `requires: [db]`).
#[derive(Clone, Debug, PartialEq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(de::value::StrDeserializer::<E>::new(v)).map(|t| OneOrMany(vec![t]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Converts a word (`restart: always`) to a value.
pub type WordFn<T> = fn(&str) -> Result<T, String>;

/// A value written either as a word or as a map `M`, checked after the map is read so
/// that a failed check points at the map.
pub fn str_or_map<'de, D, M, T>(
    d: D,
    expecting: &'static str,
    on_str: Option<WordFn<T>>,
    on_map: fn(M) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    M: Deserialize<'de>,
{
    struct V<M, T> {
        expecting: &'static str,
        on_str: Option<WordFn<T>>,
        on_map: fn(M) -> Result<T, String>,
    }
    impl<'de, M: Deserialize<'de>, T> Visitor<'de> for V<M, T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            match self.on_str {
                Some(on_str) => on_str(v).map_err(E::custom),
                None => Err(E::invalid_type(de::Unexpected::Str(v), &self)),
            }
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            let m = M::deserialize(MapAccessDeserializer::new(map))?;
            (self.on_map)(m).map_err(de::Error::custom)
        }
    }
    d.deserialize_any(V {
        expecting,
        on_str,
        on_map,
    })
}

/// A map key that must be one of `keys` and not in `seen`; the error points at the key.
pub struct KeyIn<'a>(
    pub &'static [&'static str],
    pub &'static str,
    pub &'a [String],
);

impl<'de> DeserializeSeed<'de> for KeyIn<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        let KeyIn(keys, what, seen) = self;
        from_text(d, "a key", |s| {
            if !keys.contains(&s) {
                Err(super::parse::unknown_key_message(s, keys, what))
            } else if seen.iter().any(|k| k == s) {
                Err(format!("duplicate key {s:?}"))
            } else {
                Ok(s.to_string())
            }
        })
    }
}

/// Keys of a `DistinctMap`: parsed from the key's text.
pub trait MapKey: Sized + Eq + Hash + Clone {
    const WHAT: &'static str;
    fn parse_key(s: &str) -> Result<Self, String>;
}

impl MapKey for EnvName {
    const WHAT: &'static str = "variable";
    fn parse_key(s: &str) -> Result<Self, String> {
        super::de::env_name(s).map(EnvName)
    }
}

impl MapKey for RlimitName {
    const WHAT: &'static str = "rlimit";
    fn parse_key(s: &str) -> Result<Self, String> {
        values::parse_rlimit_name(s).map(RlimitName)
    }
}

/// A map with checked keys, each allowed once (in file order; repeats found in constant
/// time, so a map of 100 000 entries reads in linear time).
pub struct DistinctMap<K, V>(pub Vec<(K, V)>);

impl<K, V> Default for DistinctMap<K, V> {
    fn default() -> Self {
        DistinctMap(Vec::new())
    }
}

impl<'de, K: MapKey, V: Deserialize<'de>> Deserialize<'de> for DistinctMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Key<'a, K>(&'a HashSet<K>);
        impl<'de, K: MapKey> DeserializeSeed<'de> for Key<'_, K> {
            type Value = K;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K, D::Error> {
                from_text(d, K::WHAT, |s| {
                    let key = K::parse_key(s)?;
                    if self.0.contains(&key) {
                        Err(format!("duplicate {} {s:?}", K::WHAT))
                    } else {
                        Ok(key)
                    }
                })
            }
        }
        struct V<K, T>(PhantomData<(K, T)>);
        impl<'de, K: MapKey, T: Deserialize<'de>> Visitor<'de> for V<K, T> {
            type Value = DistinctMap<K, T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(K, T)> = Vec::new();
                let mut seen: HashSet<K> = HashSet::new();
                while let Some(key) = map.next_key_seed(Key(&seen))? {
                    let value = map.next_value()?;
                    seen.insert(key.clone());
                    out.push((key, value));
                }
                Ok(DistinctMap(out))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}
