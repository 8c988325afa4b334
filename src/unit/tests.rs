//! Unit-file parser tests: error corpus, defaults, every key, slices, loading, env files.

use std::path::Path;

use super::parse::{parse_file, Parsed};
use super::spec::*;

fn parse(text: &str) -> Result<Parsed, Vec<String>> {
    let name = UnitName::new("t").expect("valid name");
    parse_file(Path::new("t.yaml"), &name, text)
}

#[test]
fn smoke() {
    let r = parse("exec: [sleep, 10]\n");
    assert!(r.is_ok(), "{r:?}");
}
