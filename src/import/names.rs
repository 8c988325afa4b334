//! systemd unit names → sup unit names: `foo.service` is `foo`, an instance
//! `foo@bar.service` is `foo-bar`, a template `foo@.service` is `foo`; `\xHH` escapes are
//! decoded and characters sup does not allow in a name become `-`.

/// Unit types other than services: their names are dropped from dependency lists.
pub const OTHER_TYPES: &[&str] = &[
    "target",
    "socket",
    "timer",
    "mount",
    "automount",
    "path",
    "slice",
    "scope",
    "swap",
    "device",
];

/// The parts of a service name: `(full name, prefix, instance)`.
pub struct Parts {
    pub full: String,
    pub prefix: String,
    pub instance: String,
}

/// Splits a file name like `foo@bar.service`. `Err` for another unit type.
pub fn parts(file_name: &str) -> Result<Parts, String> {
    let stem = match file_name.strip_suffix(".service") {
        Some(stem) => stem,
        None => {
            if let Some((_, ext)) = file_name.rsplit_once('.') {
                if OTHER_TYPES.contains(&ext) {
                    return Err(format!(
                        "a .{ext} unit: only .service units can be imported (sup has no {ext}s; see docs/import.md)"
                    ));
                }
            }
            file_name
        }
    };
    let (prefix, instance) = stem.split_once('@').unwrap_or((stem, ""));
    Ok(Parts {
        full: format!("{stem}.service"),
        prefix: prefix.to_string(),
        instance: instance.to_string(),
    })
}

/// The sup name for a service stem (`foo`, `foo@bar`, `foo@`). `Err` if nothing usable
/// is left.
pub fn sup_name(stem: &str) -> Result<String, String> {
    let (prefix, instance) = stem.split_once('@').unwrap_or((stem, ""));
    let joined = if instance.is_empty() {
        unescape(prefix)
    } else {
        format!("{}-{}", unescape(prefix), unescape(instance))
    };
    let mut name: String = joined
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    while name.starts_with(['-', '.', '_']) {
        name.remove(0);
    }
    if name.is_empty() {
        return Err(format!("{stem:?} leaves no usable sup unit name"));
    }
    Ok(name)
}

/// Decodes systemd's `\xHH` name escapes.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 2..i + 4);
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) if b.is_ascii() => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            _ => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A dependency as named in systemd → the sup name, or `Err(type)` for a unit of
/// another type (target, socket, …).
pub fn dependency(word: &str) -> Result<String, String> {
    if let Some(stem) = word.strip_suffix(".service") {
        return sup_name(stem);
    }
    match word.rsplit_once('.') {
        Some((_, ext)) if OTHER_TYPES.contains(&ext) => Err(ext.to_string()),
        _ => sup_name(word),
    }
}

/// Whether `User=` (or `Group=`) names root, or is not set.
pub fn is_root(who: Option<&str>) -> bool {
    who.map_or(true, |u| u == "root" || u == "0")
}
