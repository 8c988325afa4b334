//! Pools: a unit file with `instances` (or `scale`) describes `NAME@1` … `NAME@N`, each an
//! ordinary unit for the engine. `{{instance}}` in `exec`, `stop.exec`, `env` values,
//! `working_dir` and the log file path is replaced by the instance's number.

use std::path::PathBuf;

use super::spec::{LogTarget, UnitSpec};

/// What is replaced by the instance number.
pub const INSTANCE_VAR: &str = "{{instance}}";

fn fill(text: &str, n: &str) -> String {
    text.replace(INSTANCE_VAR, n)
}

fn fill_path(path: &std::path::Path, n: &str) -> PathBuf {
    match path.to_str() {
        Some(s) if s.contains(INSTANCE_VAR) => PathBuf::from(fill(s, n)),
        _ => path.to_path_buf(),
    }
}

/// The spec of instance `n` of the pool `template` describes.
pub fn instance_spec(template: &UnitSpec, n: u32) -> UnitSpec {
    let num = n.to_string();
    let mut spec = template.clone();
    spec.name = template.name.instance(n);
    spec.instance = Some(n);
    // The count and the autoscaler are the pool's: changing them leaves instances as
    // they are.
    spec.instances = 1;
    spec.scale = None;
    for arg in &mut spec.exec {
        if arg.contains(INSTANCE_VAR) {
            *arg = fill(arg, &num);
        }
    }
    if let Some(argv) = &mut spec.stop.exec {
        for arg in argv {
            if arg.contains(INSTANCE_VAR) {
                *arg = fill(arg, &num);
            }
        }
    }
    for value in spec.env.values_mut() {
        if value.contains(INSTANCE_VAR) {
            *value = fill(value, &num);
        }
    }
    if let Some(dir) = &mut spec.working_dir {
        *dir = fill_path(dir, &num);
    }
    if let LogTarget::File(path) = &mut spec.log.target {
        *path = fill_path(path, &num);
    }
    spec
}

/// The instances `1..=count` of the pool `template` describes.
pub fn expand(template: &UnitSpec, count: u32) -> impl Iterator<Item = UnitSpec> + '_ {
    (1..=count).map(move |n| instance_spec(template, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::parse::{parse_file, Parsed};
    use crate::unit::UnitName;

    fn unit(text: &str) -> UnitSpec {
        let name = UnitName::new("web").unwrap();
        match parse_file(std::path::Path::new("web.yaml"), &name, text) {
            Ok(Parsed::Unit(spec)) => *spec,
            other => panic!("not a unit: {other:?}"),
        }
    }

    #[test]
    fn instances_get_their_number_where_asked() {
        let t = unit(
            "exec: [server, --port, \"80{{instance}}\"]\ninstances: 3\nenv: {ID: \"w{{instance}}\", PLAIN: x}\nlog: {file: \"/var/log/web-{{instance}}.log\"}\nworking_dir: /srv/{{instance}}\nstop: {exec: [stopper, \"{{instance}}\"]}\n",
        );
        assert!(t.pooled);
        let all: Vec<UnitSpec> = expand(&t, t.instances).collect();
        assert_eq!(all.len(), 3);
        let two = &all[1];
        assert_eq!(two.name.as_str(), "web@2");
        assert_eq!(two.instance, Some(2));
        assert_eq!(two.exec, ["server", "--port", "802"]);
        assert_eq!(two.env["ID"], "w2");
        assert_eq!(two.env["PLAIN"], "x");
        assert_eq!(
            two.log.target,
            LogTarget::File(PathBuf::from("/var/log/web-2.log"))
        );
        assert_eq!(two.working_dir, Some(PathBuf::from("/srv/2")));
        assert_eq!(
            two.stop.exec.as_deref(),
            Some(&["stopper".to_string(), "2".into()][..])
        );
        // The same template gives the same instances (reload compares them).
        assert_eq!(instance_spec(&t, 2), *two);
    }

    #[test]
    fn pool_keys_are_checked() {
        let t = unit("exec: [x]\nscale: {min: 2, max: 5, up_above: 80%, down_below: 20%}\n");
        assert!(t.pooled);
        assert_eq!(t.instances, 2, "a scaled pool starts at its minimum");
        let s = t.scale.as_ref().unwrap();
        assert_eq!((s.min, s.max), (2, 5));
        assert!((s.up_above - 0.8).abs() < 1e-9 && (s.down_below - 0.2).abs() < 1e-9);
        assert_eq!(s.window, std::time::Duration::from_secs(30));
        assert_eq!(s.cooldown, std::time::Duration::from_secs(60));
        let m = unit("exec: [x]\ninstances: 2\nmin_ready: 1\nresources_total: {memory_max: 1G}\nscale: {min: 1, max: 4, metric: memory, up_above: 512M, down_below: 128M, window: 10s, cooldown: 20s}\n");
        assert_eq!(m.min_ready, Some(1));
        assert_eq!(
            m.resources_total.as_ref().unwrap().memory_max,
            Some(1 << 30)
        );
        assert_eq!(m.scale.as_ref().unwrap().up_above, (512u64 << 20) as f64);
    }

    fn error(text: &str) -> String {
        let name = UnitName::new("web").unwrap();
        match parse_file(std::path::Path::new("web.yaml"), &name, text) {
            Err(e) => e.join("\n"),
            Ok(other) => panic!("accepted: {other:?}"),
        }
    }

    #[test]
    fn bad_pool_keys_name_the_key() {
        let e = error("exec: [x]\nmin_ready: 2\n");
        assert!(
            e.contains("web.yaml:2:1: min_ready: only for a unit with instances"),
            "{e}"
        );
        let e = error("exec: [x]\nresources_total: {memory_max: 1G}\n");
        assert!(
            e.contains("resources_total: only for a unit with instances"),
            "{e}"
        );
        let e = error(
            "exec: [x]\ninstances: 9\nscale: {min: 1, max: 4, up_above: 80%, down_below: 20%}\n",
        );
        assert!(
            e.contains("instances 9 is outside scale's range 1..4"),
            "{e}"
        );
        let e = error("exec: [x]\nscale: {min: 5, max: 4, up_above: 80%, down_below: 20%}\n");
        assert!(e.contains("min 5 is above max 4"), "{e}");
        let e = error("exec: [x]\nscale: {min: 1, max: 4, up_above: 20%, down_below: 80%}\n");
        assert!(
            e.contains("down_below (80%) must be below up_above (20%)"),
            "{e}"
        );
        let e = error(
            "exec: [x]\nscale: {min: 1, max: 4, metric: disk, up_above: 80%, down_below: 20%}\n",
        );
        assert!(e.contains("metric: \"disk\" is not cpu or memory"), "{e}");
        let e = error(
            "exec: [x]\nscale: {min: 1, max: 4, metric: memory, up_above: 80%, down_below: 20%}\n",
        );
        assert!(e.contains("up_above"), "{e}");
        let e = error("exec: [x]\ninstances: 0\n");
        assert!(e.contains("instances"), "{e}");
        let e = error("exec: [x]\nscale: {min: 1, max: 20000, up_above: 80%, down_below: 20%}\n");
        assert!(e.contains("max"), "{e}");
    }
}
