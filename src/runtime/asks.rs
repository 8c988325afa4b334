//! What a unit asks of the OS, as the platform judges it ([`Asks`]), and the features no
//! backend has yet: a unit asking for something that would not be enforced fails with a
//! reason instead of running without it.

use crate::platform::{Asks, Platform};
use crate::unit::{Ready, UnitSpec};

/// The keys of `spec` that need an OS feature (see [`Asks::keys`]).
pub fn os_keys(spec: &UnitSpec) -> Vec<&'static str> {
    [
        ("user", spec.user.is_some()),
        ("group", spec.group.is_some()),
        ("umask", spec.umask.is_some()),
        ("rlimits", !spec.rlimits.is_empty()),
        ("no_new_privileges", spec.no_new_privileges),
        ("namespaces", !spec.namespaces.is_empty()),
        ("hostname", spec.hostname.is_some()),
        ("root", spec.root.is_some()),
        ("private_tmp", spec.private_tmp),
        ("capabilities", spec.capabilities.is_some()),
        ("ready: notify", spec.ready == Ready::Notify),
        ("ready: fd", matches!(spec.ready, Ready::Fd(_))),
        ("watchdog", spec.watchdog.is_some()),
        ("watch", spec.watch.is_some()),
        ("sockets", !spec.sockets.is_empty()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect()
}

/// Calls `f` with what `spec` asks of the OS.
pub fn with_asks<T>(spec: &UnitSpec, f: impl FnOnce(&Asks<'_>) -> T) -> T {
    let keys = os_keys(spec);
    f(&Asks {
        keys: &keys,
        resources: &spec.resources,
        slice: spec.slice.is_some(),
    })
}

/// Why `spec` cannot run with everything it asks for enforced: features of sup that are
/// not built yet, then what the platform cannot honour.
pub fn unsupported<P: Platform>(platform: &P, spec: &UnitSpec) -> Option<String> {
    if spec.pooled && spec.instance.is_none() {
        // Files are expanded into instances; only a transient unit gets here.
        return Some("instances, scale: not for a transient unit (put it in a unit file)".into());
    }
    with_asks(spec, |asks| platform.unsupported(asks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(text: &str) -> UnitSpec {
        let name = crate::unit::UnitName::new("a").unwrap();
        match crate::unit::parse::parse_file(std::path::Path::new("a.yaml"), &name, text) {
            Ok(crate::unit::parse::Parsed::Unit(spec)) => *spec,
            other => panic!("not a unit: {other:?}"),
        }
    }

    #[test]
    fn keys_name_what_the_unit_sets() {
        let spec = unit("exec: [x]\nuser: nobody\nnamespaces: [net]\nready: notify\n");
        assert_eq!(os_keys(&spec), ["user", "namespaces", "ready: notify"]);
        assert!(os_keys(&unit("exec: [x]\n")).is_empty());
        // A backend without file watches refuses it by its key.
        let spec = unit("exec: [x]\nwatch: {paths: [/etc/x]}\n");
        assert_eq!(os_keys(&spec), ["watch"]);
        // And sockets, by theirs.
        let spec = unit("exec: [x]\nsockets: [\"tcp:127.0.0.1:80\"]\n");
        assert_eq!(os_keys(&spec), ["sockets"]);
    }

    #[test]
    fn features_not_built_fail_the_unit_before_the_platform_is_asked() {
        let platform = crate::platform::fake::FakePlatform::new();
        let spec = unit("exec: [x]\ninstances: 2\n");
        // An unexpanded pool (a transient unit asking for instances) is refused.
        let why = unsupported(&platform, &spec).expect("refused");
        assert!(
            why.starts_with("instances, scale: not for a transient unit"),
            "{why}"
        );
        assert_eq!(unsupported(&platform, &unit("exec: [x]\n")), None);
    }
}
