//! Transient units (`supctl run`): a unit definition made from a command and `-p
//! KEY=VALUE` properties instead of a file. The properties are written out as the unit
//! file they stand for (a dotted KEY nests: `resources.memory_max=64M` is
//! `resources: {memory_max: 64M}`; VALUE is YAML, as in a file) and parsed by the same
//! parser, so every key is accepted and checked exactly as in a file; an error names the
//! `-p` argument it came from.
//!
//! Defaults that differ from a file's: `restart: never` (a run is not restarted unless
//! asked) and `log.timestamps: false` (the output is the command's own, as it wrote it).

use std::path::Path;

use super::parse::{parse_file, Parsed};
use super::spec::{UnitName, UnitSpec};

/// One node of the properties tree: a value (its text and the argument it came from) or
/// nested keys.
enum Node {
    Leaf { text: String, arg: usize },
    Map(Vec<(String, Node)>),
}

fn insert(
    map: &mut Vec<(String, Node)>,
    path: &[&str],
    text: &str,
    arg: usize,
) -> Result<(), String> {
    let (key, rest) = path.split_first().expect("a key has one part at least");
    let at = map.iter().position(|(k, _)| k == key);
    if rest.is_empty() {
        if at.is_some() {
            return Err(format!("key {key:?} is given twice"));
        }
        map.push((
            key.to_string(),
            Node::Leaf {
                text: text.to_string(),
                arg,
            },
        ));
        return Ok(());
    }
    let i = match at {
        Some(i) => i,
        None => {
            map.push((key.to_string(), Node::Map(Vec::new())));
            map.len() - 1
        }
    };
    match &mut map[i].1 {
        Node::Map(inner) => insert(inner, rest, text, arg),
        Node::Leaf { .. } => Err(format!("key {key:?} is given as a value and as a map")),
    }
}

/// Writes the tree as YAML; `lines[n]` is the argument that line `n + 1` came from.
fn emit(map: &[(String, Node)], indent: usize, out: &mut String, lines: &mut Vec<Option<usize>>) {
    for (key, node) in map {
        match node {
            Node::Leaf { text, arg } => {
                out.push_str(&format!("{:indent$}{key}: {text}\n", ""));
                lines.push(Some(*arg));
            }
            Node::Map(inner) => {
                out.push_str(&format!("{:indent$}{key}:\n", ""));
                lines.push(None);
                emit(inner, indent + 2, out, lines);
            }
        }
    }
}

/// The spec of a transient unit `name` running `argv`, of `kind` (`simple`, `oneshot`)
/// when given, with `props` (`KEY=VALUE`). Errors are one per line, each naming the
/// `-p` argument (or the command) at fault.
pub fn transient_spec(
    name: &str,
    argv: &[String],
    kind: Option<&str>,
    props: &[String],
) -> Result<UnitSpec, String> {
    let unit = UnitName::new(name).map_err(|e| format!("--name: {e}"))?;
    if argv.is_empty() {
        return Err("no command given (supctl run [OPTIONS] -- CMD [ARG...])".into());
    }
    let mut tree: Vec<(String, Node)> = Vec::new();
    for (n, prop) in props.iter().enumerate() {
        let bad = |m: String| format!("-p {prop}: {m}");
        let Some((key, value)) = prop.split_once('=') else {
            return Err(bad(
                "expected KEY=VALUE (e.g. resources.memory_max=64M)".into()
            ));
        };
        let path: Vec<&str> = key.split('.').collect();
        if path
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(bad(format!(
                "{key:?} is not a unit key (keys are words joined by dots, e.g. resources.memory_max)"
            )));
        }
        if matches!(path[0], "exec" | "kind") {
            return Err(bad(format!(
                "{} cannot be set with -p (the command comes after --)",
                path[0]
            )));
        }
        if path[0] == "type" && kind.is_some() {
            return Err(bad("the type is already given by --type".into()));
        }
        if value.contains('\n') || value.contains('\r') {
            return Err(bad(
                "a value is one line (use YAML flow syntax: [a, b], {k: v})".into(),
            ));
        }
        insert(&mut tree, &path, value, n).map_err(bad)?;
    }
    let given = |key: &str| tree.iter().any(|(k, _)| k == key);
    let mut text = String::new();
    let mut lines: Vec<Option<usize>> = Vec::new();
    let exec = serde_json::to_string(argv).map_err(|e| format!("command: {e}"))?;
    text.push_str(&format!("exec: {exec}\n"));
    lines.push(None);
    if let Some(kind) = kind {
        if !matches!(kind, "simple" | "oneshot") {
            return Err(format!("--type {kind}: expected simple or oneshot"));
        }
        text.push_str(&format!("type: {kind}\n"));
        lines.push(None);
    }
    if !given("restart") {
        text.push_str("restart: never\n");
        lines.push(None);
    }
    let log_given = tree
        .iter()
        .find_map(|(k, node)| (k == "log").then_some(node));
    match log_given {
        None => {
            text.push_str("log:\n  timestamps: false\n");
            lines.extend([None, None]);
        }
        Some(Node::Map(inner)) if !inner.iter().any(|(k, _)| k == "timestamps") => {
            tree.iter_mut()
                .filter(|(k, _)| k == "log")
                .for_each(|(_, node)| {
                    if let Node::Map(inner) = node {
                        inner.push((
                            "timestamps".into(),
                            Node::Leaf {
                                text: "false".into(),
                                arg: usize::MAX,
                            },
                        ));
                    }
                });
        }
        Some(_) => {}
    }
    emit(&tree, 0, &mut text, &mut lines);
    let file = format!("transient:{name}");
    match parse_file(Path::new(&file), &unit, &text) {
        Ok(Parsed::Unit(spec)) => Ok(*spec),
        Ok(Parsed::Slice(_)) => Err("a transient unit cannot be a slice".into()),
        Err(errors) => Err(errors
            .iter()
            .map(|e| {
                // `FILE:LINE:COL: message`: say which argument LINE came from.
                let rest = e.strip_prefix(&file).and_then(|r| r.strip_prefix(':'));
                let Some((line, message)) = rest.and_then(|r| {
                    let (line, r) = r.split_once(':')?;
                    let (_col, message) = r.split_once(": ")?;
                    Some((line.parse::<usize>().ok()?, message))
                }) else {
                    return e.clone();
                };
                match lines.get(line.wrapping_sub(1)).copied().flatten() {
                    Some(arg) if arg < props.len() => format!("-p {}: {message}", props[arg]),
                    _ if line == 1 => format!("command: {message}"),
                    _ => message.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn builds_a_unit_with_nested_keys_and_the_transient_defaults() {
        let argv = props(&["sleep", "1"]);
        let spec = transient_spec(
            "run-1",
            &argv,
            Some("oneshot"),
            &props(&["resources.memory_max=64M", "namespaces=[net]", "env.A=b c"]),
        )
        .unwrap();
        assert_eq!(spec.exec, argv);
        assert_eq!(spec.kind, crate::unit::UnitType::Oneshot);
        assert_eq!(spec.resources.memory_max, Some(64 << 20));
        assert_eq!(spec.namespaces, vec![crate::limits::Namespace::Net]);
        assert_eq!(spec.env.get("A").map(String::as_str), Some("b c"));
        assert_eq!(spec.restart.policy, crate::unit::RestartPolicy::Never);
        assert!(!spec.log.timestamps);
    }

    #[test]
    fn given_restart_and_log_keys_win_over_the_defaults() {
        let argv = props(&["x"]);
        let spec = transient_spec(
            "a",
            &argv,
            None,
            &props(&["restart=always", "log.timestamps=true", "log.keep=2"]),
        )
        .unwrap();
        assert_eq!(spec.restart.policy, crate::unit::RestartPolicy::Always);
        assert!(spec.log.timestamps);
        assert_eq!(spec.log.keep, 2);
        let spec = transient_spec("a", &argv, None, &props(&["log.keep=3"])).unwrap();
        assert!(!spec.log.timestamps);
    }

    #[test]
    fn errors_name_the_argument() {
        let argv = props(&["x"]);
        let e = transient_spec(
            "a",
            &argv,
            None,
            &props(&["user=nobody", "resources.memory_max=lots"]),
        )
        .unwrap_err();
        assert!(e.starts_with("-p resources.memory_max=lots: "), "{e}");
        assert!(e.contains("lots"), "{e}");
        let e = transient_spec("a", &argv, None, &props(&["nosuchkey=1"])).unwrap_err();
        assert!(e.starts_with("-p nosuchkey=1: "), "{e}");
        let e = transient_spec("a", &argv, None, &props(&["memory_max"])).unwrap_err();
        assert!(e.contains("KEY=VALUE"), "{e}");
        let e = transient_spec("a", &argv, None, &props(&["a.b=1", "a.b=2"])).unwrap_err();
        assert!(e.starts_with("-p a.b=2: "), "{e}");
        let e = transient_spec("bad name", &argv, None, &[]).unwrap_err();
        assert!(e.starts_with("--name: "), "{e}");
        assert!(transient_spec("a", &[], None, &[]).is_err());
        let e = transient_spec("a", &argv, Some("forking"), &[]).unwrap_err();
        assert!(e.starts_with("--type forking"), "{e}");
    }
}
