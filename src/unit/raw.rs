//! The top-level maps of unit and slice files as read from YAML, before defaults and
//! cross-key checks. Reading can skip chosen keys so that one bad key does not hide the
//! problems in the others.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::de::{
    from_text, AbsPath, AnyPath, Capability, Dur, Hostname, Ident, Int, KindDe, Name, NamespaceDe,
    OnUnhealthyDe, RlimitName, RlimitValue, Text, Umask, UnitTypeDe,
};
use super::nested::{EnvMap, LogDe, RawRestart, RawStop, ResourcesDe, ScaleDe, SocketDe, WatchDe};
use super::probes::{HealthDe, ReadyDe};
use super::shapes::{Argv, OneOrMany};

/// How to read a top-level map: which keys to pass over, and where to note the key being
/// read (so the caller knows which key a deserialization error belongs to).
pub struct ReadCtx<'a> {
    pub skip: &'a HashSet<String>,
    pub current: &'a RefCell<Option<String>>,
}

/// A top-level map type with a fixed key list.
pub trait TopLevel: Default {
    const KEYS: &'static [&'static str];
    const WHAT: &'static str;
    /// Reads the value of `key` (one of `KEYS`) into the matching field.
    fn read_value<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<(), A::Error>;
}

/// Declares a top-level map struct: every key an `Option` field of the given type.
macro_rules! top_level {
    ($name:ident, $what:literal, { $($key:literal => $field:ident: $ty:ty),+ $(,)? }) => {
        #[derive(Default)]
        pub struct $name {
            $(pub $field: Option<$ty>,)+
        }
        impl TopLevel for $name {
            const KEYS: &'static [&'static str] = &[$($key),+];
            const WHAT: &'static str = $what;
            fn read_value<'de, A: MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> Result<(), A::Error> {
                match key {
                    $($key => self.$field = Some(map.next_value()?),)+
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(())
            }
        }
    };
}

top_level!(RawUnit, "unit key", {
    "kind" => kind: KindDe,
    "description" => description: Text,
    "exec" => exec: Argv,
    "type" => unit_type: UnitTypeDe,
    "enabled" => enabled: bool,
    "working_dir" => working_dir: AbsPath,
    "env" => env: EnvMap,
    "env_file" => env_file: OneOrMany<AnyPath>,
    "user" => user: Ident,
    "group" => group: Ident,
    "umask" => umask: Umask,
    "restart" => restart: RawRestart,
    "stop" => stop: RawStop,
    "start_timeout" => start_timeout: Dur,
    "watchdog" => watchdog: Dur,
    "requires" => requires: OneOrMany<Name>,
    "wants" => wants: OneOrMany<Name>,
    "after" => after: OneOrMany<Name>,
    "before" => before: OneOrMany<Name>,
    "conflicts" => conflicts: OneOrMany<Name>,
    "ready" => ready: ReadyDe,
    "health" => health: Vec<HealthDe>,
    "on_unhealthy" => on_unhealthy: OnUnhealthyDe,
    "on_failure" => on_failure: OneOrMany<Name>,
    "resources" => resources: ResourcesDe,
    "slice" => slice: Name,
    "namespaces" => namespaces: OneOrMany<NamespaceDe>,
    "hostname" => hostname: Hostname,
    "root" => root: AbsPath,
    "private_tmp" => private_tmp: bool,
    "capabilities" => capabilities: OneOrMany<Capability>,
    "no_new_privileges" => no_new_privileges: bool,
    "rlimits" => rlimits: RlimitMap,
    "log" => log: LogDe,
    "instances" => instances: Int<1, { super::limits::MAX_INSTANCES as u64 }>,
    "min_ready" => min_ready: Int<1, { super::limits::MAX_INSTANCES as u64 }>,
    "scale" => scale: ScaleDe,
    "resources_total" => resources_total: ResourcesDe,
    "watch" => watch: WatchDe,
    "sockets" => sockets: Vec<SocketDe>,
});

top_level!(RawSlice, "slice key", {
    "kind" => kind: KindDe,
    "description" => description: Text,
    "slice" => slice: Name,
    "resources" => resources: ResourcesDe,
    "max_units" => max_units: Int<1, { u32::MAX as u64 }>,
});

/// `rlimits`: names checked as keys, values `N`, `"SOFT:HARD"` or `infinity`.
pub type RlimitMap = super::shapes::DistinctMap<RlimitName, RlimitValue>;

/// Reads a whole document as `T`, honouring `ctx`.
pub struct Top<'a, T>(pub &'a ReadCtx<'a>, pub PhantomData<T>);

impl<'de, T: TopLevel> DeserializeSeed<'de> for Top<'_, T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: TopLevel> Visitor<'de> for Top<'_, T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of keys")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let ctx = self.0;
        let mut out = T::default();
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = map.next_key_seed(TopKey::<T>(ctx, &seen, PhantomData))? {
            seen.push(key.clone());
            out.read_value(&key, &mut map)?;
        }
        Ok(out)
    }
}

/// A top-level key: notes itself in the context, then must be known and not repeated.
struct TopKey<'a, T>(&'a ReadCtx<'a>, &'a [String], PhantomData<T>);

impl<'de, T: TopLevel> DeserializeSeed<'de> for TopKey<'_, T> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        let TopKey(ctx, seen, _) = self;
        from_text(d, "a key", |s| {
            *ctx.current.borrow_mut() = Some(s.to_string());
            if ctx.skip.contains(s) {
                Ok(String::new())
            } else if !T::KEYS.contains(&s) {
                Err(super::parse::unknown_key_message(s, T::KEYS, T::WHAT))
            } else if seen.iter().any(|k| k == s) {
                Err(format!("duplicate key {s:?}"))
            } else {
                Ok(s.to_string())
            }
        })
    }
}
