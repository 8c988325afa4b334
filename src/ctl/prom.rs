//! The Prometheus text exposition format (version 0.0.4), as `supctl metrics` prints it
//! and `GET /metrics` serves it: metric families, each opened by its `# HELP` and
//! `# TYPE` lines and followed by all of its samples, label values escaped.

use std::io::Write as _;

/// The `Content-Type` of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// A sample's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    /// Microseconds, written as seconds with six decimals (exact, no float).
    Micros(u64),
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Int(n.min(i64::MAX as u64) as i64)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Int(i64::from(b))
    }
}

/// An exposition being written. The caller writes each family's samples right after
/// [`family`](Self::family), as the format requires.
#[derive(Debug, Default)]
pub struct Exposition {
    buf: Vec<u8>,
    /// The family being written (samples must carry its name).
    current: String,
}

impl Exposition {
    pub fn with_capacity(n: usize) -> Exposition {
        Exposition {
            buf: Vec::with_capacity(n),
            current: String::new(),
        }
    }

    /// Opens a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(valid_name(name), "{name}");
        self.current.clear();
        self.current.push_str(name);
        self.buf.extend_from_slice(b"# HELP ");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(b' ');
        for c in help.bytes() {
            match c {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                c => self.buf.push(c),
            }
        }
        self.buf.extend_from_slice(b"\n# TYPE ");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(match kind {
            Kind::Counter => b" counter\n",
            Kind::Gauge => b" gauge\n",
        });
    }

    /// One sample of the current family.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: impl Into<Value>) {
        self.buf.extend_from_slice(self.current.as_bytes());
        if !labels.is_empty() {
            self.buf.push(b'{');
            for (i, (name, v)) in labels.iter().enumerate() {
                debug_assert!(valid_name(name), "{name}");
                if i > 0 {
                    self.buf.push(b',');
                }
                self.buf.extend_from_slice(name.as_bytes());
                self.buf.extend_from_slice(b"=\"");
                escape_label(&mut self.buf, v);
                self.buf.push(b'"');
            }
            self.buf.push(b'}');
        }
        self.buf.push(b' ');
        // Writing to a Vec cannot fail.
        let _ = match value.into() {
            Value::Int(n) => write!(self.buf, "{n}"),
            Value::Micros(us) => write!(self.buf, "{}.{:06}", us / 1_000_000, us % 1_000_000),
        };
        self.buf.push(b'\n');
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// A label value as the format wants it: `\`, `"` and newline escaped.
fn escape_label(out: &mut Vec<u8>, v: &str) {
    for c in v.bytes() {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            c => out.push(c),
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escapes() {
        let mut e = Exposition::default();
        e.family(
            "sup_unit_restarts_total",
            Kind::Counter,
            "Restarts.\nback\\slash",
        );
        e.sample(&[("unit", "a\"b\\c\nd")], 3u64);
        e.sample(&[("unit", "x"), ("state", "running")], true);
        e.family("sup_cpu_seconds_total", Kind::Counter, "CPU");
        e.sample(&[], Value::Micros(1_500_042));
        e.sample(&[], Value::Micros(7));
        e.family("sup_last_exit_code", Kind::Gauge, "code");
        e.sample(&[], -1i64);
        let text = String::from_utf8(e.into_bytes()).unwrap();
        assert_eq!(
            text,
            "# HELP sup_unit_restarts_total Restarts.\\nback\\\\slash\n\
             # TYPE sup_unit_restarts_total counter\n\
             sup_unit_restarts_total{unit=\"a\\\"b\\\\c\\nd\"} 3\n\
             sup_unit_restarts_total{unit=\"x\",state=\"running\"} 1\n\
             # HELP sup_cpu_seconds_total CPU\n\
             # TYPE sup_cpu_seconds_total counter\n\
             sup_cpu_seconds_total 1.500042\n\
             sup_cpu_seconds_total 0.000007\n\
             # HELP sup_last_exit_code code\n\
             # TYPE sup_last_exit_code gauge\n\
             sup_last_exit_code -1\n"
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("sup_unit_state"));
        assert!(valid_name("a:b_c9"));
        assert!(!valid_name("9a"));
        assert!(!valid_name("a-b"));
        assert!(!valid_name(""));
    }
}
