//! Writing a unit as YAML: block maps, flow lists of scalars, every scalar quoted by
//! serde_yaml's rules (or as a JSON string where a flow list needs it), so what is written
//! reads back as the same strings.

/// A YAML value as the import writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Y {
    Str(String),
    Int(u64),
    Bool(bool),
    /// A flow list `[a, b]` of scalars.
    List(Vec<String>),
    /// A block map, keys in order.
    Map(Vec<(String, Y)>),
    /// A block list of maps of scalars.
    Maps(Vec<Vec<(String, Y)>>),
}

/// The YAML text of a top-level map.
pub fn to_yaml(map: &[(String, Y)]) -> String {
    let mut out = String::new();
    write_map(&mut out, map, 0);
    out
}

fn write_map(out: &mut String, map: &[(String, Y)], indent: usize) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&scalar(key, false));
        out.push(':');
        match value {
            Y::Map(inner) if inner.is_empty() => out.push_str(" {}\n"),
            Y::Map(inner) => {
                out.push('\n');
                write_map(out, inner, indent + 2);
            }
            Y::Str(s) => {
                out.push(' ');
                out.push_str(&scalar(s, false));
                out.push('\n');
            }
            Y::Int(n) => out.push_str(&format!(" {n}\n")),
            Y::Bool(b) => out.push_str(&format!(" {b}\n")),
            Y::List(items) => {
                let items: Vec<String> = items.iter().map(|s| scalar(s, true)).collect();
                out.push_str(&format!(" [{}]\n", items.join(", ")));
            }
            Y::Maps(items) => {
                out.push('\n');
                for item in items {
                    let mut inner = String::new();
                    write_map(&mut inner, item, indent + 4);
                    // The first key goes after the dash.
                    let inner = inner.get(indent + 4..).unwrap_or_default();
                    out.push_str(&format!("{}  - {inner}", " ".repeat(indent)));
                }
            }
        }
    }
}

/// One string as a YAML scalar on one line. In a flow list, characters that end a plain
/// scalar there (`,[]{}`) force quotes.
pub fn scalar(s: &str, in_flow: bool) -> String {
    let yaml = serde_yaml::to_string(s).unwrap_or_default();
    let yaml = yaml.strip_suffix('\n').unwrap_or(&yaml);
    let quoted = yaml.starts_with('\'') || yaml.starts_with('"');
    let flow_unsafe = in_flow && s.contains([',', '[', ']', '{', '}']);
    if yaml.contains('\n') || (!quoted && flow_unsafe) || yaml.is_empty() {
        // A JSON string is a YAML double-quoted scalar.
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
    } else {
        yaml.to_string()
    }
}
