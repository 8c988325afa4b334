//! The environment of a new process: name/value pairs kept as bytes (`OsString`), so a
//! name or value that is not UTF-8 reaches the process exactly as sup received it.

use std::ffi::{OsStr, OsString};

/// Where a program is looked up when the environment has no `PATH` (as `execvp` does).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Name/value pairs in the order the process will see them; a name occurs at most once
/// when built through [`Env::set`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env(Vec<(OsString, OsString)>);

impl Env {
    /// The value of `key`, if set.
    pub fn get(&self, key: impl AsRef<OsStr>) -> Option<&OsStr> {
        let key = key.as_ref();
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_os_str())
    }

    /// Sets `key` to `value`, in place if it is already set.
    pub fn set<K>(&mut self, key: K, value: impl Into<OsString>)
    where
        K: AsRef<OsStr> + Into<OsString>,
    {
        match self.0.iter_mut().find(|(k, _)| k == key.as_ref()) {
            Some(slot) => slot.1 = value.into(),
            None => self.0.push((key.into(), value.into())),
        }
    }

    /// Unsets `key`.
    pub fn remove(&mut self, key: impl AsRef<OsStr>) {
        let key = key.as_ref();
        self.0.retain(|(k, _)| k != key);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.0.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(OsString, OsString)> for Env {
    fn from_iter<I: IntoIterator<Item = (OsString, OsString)>>(iter: I) -> Env {
        Env(iter.into_iter().collect())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn set_replaces_in_place_and_keeps_bytes() {
        let name = OsStr::from_bytes(b"N\xff");
        let mut env: Env = [
            (OsString::from("A"), OsString::from("1")),
            (name.to_owned(), OsString::from("x")),
        ]
        .into_iter()
        .collect();
        env.set("A", "2");
        env.set(name, OsStr::from_bytes(b"v\xfe\x80"));
        env.set("B", "3");
        let pairs: Vec<(&[u8], &[u8])> = env
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        assert_eq!(
            pairs,
            [
                (&b"A"[..], &b"2"[..]),
                (b"N\xff", b"v\xfe\x80"),
                (b"B", b"3")
            ]
        );
        assert_eq!(env.get(name).map(OsStr::as_bytes), Some(&b"v\xfe\x80"[..]));
        assert_eq!(env.get("C"), None);
        assert_eq!(env.len(), 3);
        env.remove("A");
        assert_eq!(env.get("A"), None);
        assert_eq!(env.len(), 2);
    }
}
