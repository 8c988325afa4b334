//! Serde building blocks for unit files: scalar value types that validate while they are
//! deserialized, so every error carries the YAML position of the offending value.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, value::MapAccessDeserializer, DeserializeSeed, Deserializer, Visitor};
use serde::Deserialize;

use super::spec::{Namespace, OnUnhealthy, RestartPolicy, Severity, UnitName, UnitType};
use super::values;

/// Reads a scalar's raw text (YAML numbers and booleans included) and converts it.
pub fn from_text<'de, D, T>(
    d: D,
    expecting: &'static str,
    convert: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct TextVisitor<F>(&'static str, F);
    impl<T, F: FnOnce(&str) -> Result<T, String>> Visitor<'_> for TextVisitor<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.1)(v).map_err(E::custom)
        }
    }
    d.deserialize_str(TextVisitor(expecting, convert))
}

/// Declares a newtype deserialized from a scalar's text through a conversion function.
macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident($ty:ty), $expecting:literal, $convert:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, PartialOrd, Eq, Ord)]
        pub struct $name(pub $ty);
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                from_text(d, $expecting, $convert).map($name)
            }
        }
    };
}

text_value!(Dur(Duration), "a duration like 10s", values::parse_duration);
text_value!(Size(u64), "a size like 256M", values::parse_size);
text_value!(Signal(i32), "a signal like SIGTERM", values::parse_signal);
text_value!(
    Umask(u32),
    "an octal umask string like \"0022\"",
    values::parse_umask
);
text_value!(
    Capability(String),
    "a capability name",
    values::parse_capability
);
text_value!(
    RlimitName(i32),
    "an rlimit name like nofile",
    values::parse_rlimit_name
);
text_value!(
    RlimitValue((u64, u64)),
    "an rlimit value",
    values::parse_rlimit_value
);
text_value!(Text(String), "a string", |s| Ok(s.to_string()));
text_value!(Name(UnitName), "a unit name", UnitName::new);
text_value!(AbsPath(PathBuf), "an absolute path", abs_path);
text_value!(AnyPath(PathBuf), "a path", |s| non_empty(s, "path")
    .map(PathBuf::from));
text_value!(Ident(String), "a name or a number", ident);
text_value!(Hostname(String), "a hostname", hostname);
text_value!(
    Address(String),
    "an address like \"127.0.0.1:8080\"",
    address
);
text_value!(Url(String), "an http:// url", url);
text_value!(Regex(String), "a regular expression", regex);
text_value!(EnvName(String), "an environment variable name", env_name);

/// CPU amounts are floats, which are not `Eq`: a separate type.
#[derive(Clone, Debug, PartialEq)]
pub struct Cpu(pub f64);
impl<'de> Deserialize<'de> for Cpu {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, "a cpu amount like \"50%\" or \"1.5\"", values::parse_cpu).map(Cpu)
    }
}

fn non_empty(s: &str, what: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err(format!("{what} must not be empty"))
    } else {
        Ok(s.to_string())
    }
}

fn abs_path(s: &str) -> Result<PathBuf, String> {
    if s.starts_with('/') {
        Ok(PathBuf::from(s))
    } else {
        Err(format!("path {s:?} must be absolute (start with /)"))
    }
}

fn ident(s: &str) -> Result<String, String> {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c == ':' || c == '/') {
        Err(format!(
            "invalid user or group {s:?} (use a name or a numeric id)"
        ))
    } else {
        Ok(s.to_string())
    }
}

fn hostname(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "invalid hostname {s:?} (letters, digits, '-' and '.', at most 64)"
        ))
    }
}

fn address(s: &str) -> Result<String, String> {
    let bad = || format!("invalid address {s:?} (use \"HOST:PORT\" like \"127.0.0.1:8080\")");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 && !host.is_empty() => Ok(s.to_string()),
        _ => Err(bad()),
    }
}

fn url(s: &str) -> Result<String, String> {
    match s.strip_prefix("http://") {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(s.to_string()),
        _ if s.starts_with("https://") => Err(format!("url {s:?}: only http:// is supported")),
        _ => Err(format!("invalid url {s:?} (use http://HOST[:PORT]/PATH)")),
    }
}

fn regex(s: &str) -> Result<String, String> {
    match regex_lite::Regex::new(s) {
        Ok(_) => Ok(s.to_string()),
        Err(e) => Err(format!("invalid regular expression {s:?}: {e}")),
    }
}

fn env_name(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains('=') || s.contains('\0') {
        Err(format!(
            "invalid environment variable name {s:?} (must be non-empty without '=')"
        ))
    } else {
        Ok(s.to_string())
    }
}

/// An integer in `MIN..=MAX`, written as a number or a numeric string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int<const MIN: u64, const MAX: u64>(pub u64);

impl<const MIN: u64, const MAX: u64> Int<MIN, MAX> {
    /// The value as u32 (callers use this only with `MAX <= u32::MAX`).
    pub fn u32(self) -> u32 {
        u32::try_from(self.0).unwrap_or(u32::MAX)
    }
}

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Int<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, "an integer", |s| {
            let t = s.trim();
            let digits = t.strip_prefix('-').unwrap_or(t);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!("invalid integer {s:?}"));
            }
            match t.parse::<u64>() {
                Ok(v) if (MIN..=MAX).contains(&v) => Ok(Int(v)),
                _ if MAX == u64::MAX => Err(format!("{t} is out of range (at least {MIN})")),
                _ => Err(format!("{t} is out of range ({MIN} to {MAX})")),
            }
        })
    }
}

/// Declares a newtype for a fixed set of words, with an error listing them.
macro_rules! choice {
    ($name:ident($ty:ty), $what:literal, { $($word:literal => $value:expr),+ $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub struct $name(pub $ty);
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                const WORDS: &[&str] = &[$($word),+];
                from_text(d, concat!("a ", $what), |s| match s {
                    $($word => Ok($name($value)),)+
                    _ => Err(format!(
                        "invalid {} {:?} (expected {})", $what, s, super::parse::or_list(WORDS)
                    )),
                })
            }
        }
    };
}

choice!(UnitTypeDe(UnitType), "type", { "simple" => UnitType::Simple, "oneshot" => UnitType::Oneshot });
choice!(PolicyDe(RestartPolicy), "restart policy", {
    "never" => RestartPolicy::Never,
    "on-failure" => RestartPolicy::OnFailure,
    "always" => RestartPolicy::Always,
});
choice!(OnUnhealthyDe(OnUnhealthy), "on_unhealthy action", {
    "restart" => OnUnhealthy::Restart,
    "stop" => OnUnhealthy::Stop,
    "ignore" => OnUnhealthy::Ignore,
});
choice!(SeverityDe(Severity), "severity", {
    "critical" => Severity::Critical,
    "warning" => Severity::Warning,
});
choice!(NamespaceDe(Namespace), "namespace", {
    "pid" => Namespace::Pid,
    "mount" => Namespace::Mount,
    "uts" => Namespace::Uts,
    "ipc" => Namespace::Ipc,
    "net" => Namespace::Net,
    "user" => Namespace::User,
    "cgroup" => Namespace::Cgroup,
});
choice!(KindDe(bool), "kind", { "unit" => false, "slice" => true });

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
                Ok(Argv(vec!["/bin/sh".into(), "-c".into(), v.to_string()]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Argv, A::Error> {
                let mut argv = Vec::new();
                while let Some(Text(arg)) = seq.next_element()? {
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
pub trait MapKey: Sized + PartialEq {
    const WHAT: &'static str;
    fn parse_key(s: &str) -> Result<Self, String>;
}

impl MapKey for EnvName {
    const WHAT: &'static str = "variable";
    fn parse_key(s: &str) -> Result<Self, String> {
        env_name(s).map(EnvName)
    }
}

impl MapKey for RlimitName {
    const WHAT: &'static str = "rlimit";
    fn parse_key(s: &str) -> Result<Self, String> {
        values::parse_rlimit_name(s).map(RlimitName)
    }
}

/// A map with checked keys, each allowed once (in file order).
pub struct DistinctMap<K, V>(pub Vec<(K, V)>);

impl<K, V> Default for DistinctMap<K, V> {
    fn default() -> Self {
        DistinctMap(Vec::new())
    }
}

impl<'de, K: MapKey, V: Deserialize<'de>> Deserialize<'de> for DistinctMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Key<'a, K, V>(&'a [(K, V)]);
        impl<'de, K: MapKey, V> DeserializeSeed<'de> for Key<'_, K, V> {
            type Value = K;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K, D::Error> {
                from_text(d, K::WHAT, |s| {
                    let key = K::parse_key(s)?;
                    if self.0.iter().any(|(k, _)| *k == key) {
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
                while let Some(key) = map.next_key_seed(Key(&out))? {
                    let value = map.next_value()?;
                    out.push((key, value));
                }
                Ok(DistinctMap(out))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}
