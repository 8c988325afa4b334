//! Serde building blocks for unit files: scalar value types that validate while they are
//! deserialized, so every error carries the YAML position of the offending value.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::limits::MAX_ARG_LEN;
use super::spec::{Namespace, OnUnhealthy, RestartPolicy, Severity, UnitName, UnitType};
use super::values;

/// A NUL (from a `"\0"` escape) cannot be passed to a program, a path or the environment.
pub fn no_nul(s: &str) -> Result<(), String> {
    if s.contains('\0') {
        return Err("NUL character (\\0) is not allowed (no argument, path or environment value can hold one)".to_string());
    }
    Ok(())
}

/// Reads a scalar's raw text (YAML numbers and booleans included) and converts it; text
/// with a NUL is refused.
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
            no_nul(v).map_err(E::custom)?;
            (self.1)(v).map_err(E::custom)
        }
    }
    d.deserialize_str(TextVisitor(expecting, convert))
}

/// Declares a newtype deserialized from a scalar's text through a conversion function.
macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident($ty:ty), $expecting:literal, $convert:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, PartialOrd, Eq, Ord, Hash)]
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
    RlimitName(super::spec::RlimitResource),
    "an rlimit name like nofile",
    values::parse_rlimit_name
);
text_value!(
    RlimitValue((u64, u64)),
    "an rlimit value",
    values::parse_rlimit_value
);
text_value!(Text(String), "a string", |s| Ok(s.to_string()));
text_value!(
    /// A string handed to `execve` (an argument, an environment value): at most
    /// `MAX_ARG_LEN` bytes.
    Arg(String),
    "a string",
    arg
);
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
text_value!(EnvValue(String), "a string", env_value);

/// CPU amounts are floats, which are not `Eq`: a separate type.
#[derive(Clone, Debug, PartialEq)]
pub struct Cpu(pub f64);
impl<'de> Deserialize<'de> for Cpu {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, "a cpu amount like \"50%\" or \"1.5\"", values::parse_cpu).map(Cpu)
    }
}

/// An argument or environment value `execve` accepts: at most `MAX_ARG_LEN` bytes.
pub fn arg(s: &str) -> Result<String, String> {
    if s.len() > MAX_ARG_LEN {
        return Err(format!(
            "value is too long ({} bytes; a program argument or environment entry is at most {MAX_ARG_LEN})",
            s.len()
        ));
    }
    Ok(s.to_string())
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

pub fn env_name(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains('=') || s.contains('\0') {
        Err(format!(
            "invalid environment variable name {s:?} (must be non-empty without '=')"
        ))
    } else {
        Ok(s.to_string())
    }
}

/// A variable's value: any string but one with a NUL byte, which no environment can hold.
pub fn env_value(s: &str) -> Result<String, String> {
    if s.contains('\0') {
        Err("an environment variable value must not contain a NUL byte".into())
    } else {
        arg(s)
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
