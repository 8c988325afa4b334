//! User and group lookup from `/etc/passwd` and `/etc/group`, read directly: a static
//! binary cannot rely on NSS, and an initramfs has no NSS modules anyway.

use std::fs;

/// Credentials to switch to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (including `gid`).
    pub groups: Vec<u32>,
    /// Home directory and login name, when the user is in `/etc/passwd`.
    pub home: Option<String>,
    pub name: Option<String>,
}

struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = Passwd> + '_ {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || line.starts_with('#') {
            return None;
        }
        Some(Passwd {
            name: f[0].to_string(),
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5].to_string(),
        })
    })
}

/// (name, gid, members)
fn group_entries(text: &str) -> impl Iterator<Item = (String, u32, Vec<String>)> + '_ {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || line.starts_with('#') {
            return None;
        }
        let members = f[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect();
        Some((f[0].to_string(), f[2].parse().ok()?, members))
    })
}

/// Resolves `user` and `group` (names or numbers) against the given file contents.
pub fn resolve_in(
    passwd: &str,
    group_file: &str,
    user: Option<&str>,
    group: Option<&str>,
) -> Result<Creds, String> {
    let entry = match user {
        None => None,
        Some(u) => {
            let found = match u.parse::<u32>() {
                Ok(uid) => passwd_entries(passwd).find(|p| p.uid == uid),
                Err(_) => passwd_entries(passwd).find(|p| p.name == u),
            };
            match (found, u.parse::<u32>()) {
                (Some(p), _) => Some(p),
                (None, Ok(uid)) => Some(Passwd {
                    name: String::new(),
                    uid,
                    gid: uid,
                    home: String::new(),
                }),
                (None, Err(_)) => return Err(format!("user {u:?} not found in /etc/passwd")),
            }
        }
    };
    let gid = match group {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries(group_file)
                .find(|(name, _, _)| name == g)
                .map(|(_, gid, _)| gid)
                .ok_or_else(|| format!("group {g:?} not found in /etc/group"))?,
        },
        None => match &entry {
            Some(p) => p.gid,
            // SAFETY: getgid has no preconditions and cannot fail.
            None => unsafe { libc::getgid() },
        },
    };
    let mut groups = vec![gid];
    if let Some(p) = &entry {
        if !p.name.is_empty() {
            for (_, g, members) in group_entries(group_file) {
                if members.contains(&p.name) && !groups.contains(&g) {
                    groups.push(g);
                }
            }
        }
    }
    Ok(match entry {
        Some(p) => Creds {
            uid: p.uid,
            gid,
            groups,
            home: (!p.home.is_empty()).then_some(p.home),
            name: (!p.name.is_empty()).then_some(p.name),
        },
        // Only a group: keep the uid.
        None => Creds {
            // SAFETY: getuid has no preconditions and cannot fail.
            uid: unsafe { libc::getuid() },
            gid,
            groups,
            home: None,
            name: None,
        },
    })
}

/// Resolves against the system's `/etc/passwd` and `/etc/group`.
pub fn resolve(user: Option<&str>, group: Option<&str>) -> Result<Creds, String> {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let groups = fs::read_to_string("/etc/group").unwrap_or_default();
    resolve_in(&passwd, &groups, user, group)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nlogs:x:4:www,bob\nadm:x:5:bob\n";

    #[test]
    fn by_name_with_supplementary_groups() {
        let c = resolve_in(PASSWD, GROUP, Some("www"), None).unwrap();
        assert_eq!((c.uid, c.gid, c.groups.clone()), (33, 33, vec![33, 4]));
        assert_eq!(c.home.as_deref(), Some("/var/www"));
    }

    #[test]
    fn numeric_unknown_user_and_named_group() {
        let c = resolve_in(PASSWD, GROUP, Some("4242"), Some("adm")).unwrap();
        assert_eq!((c.uid, c.gid, c.groups), (4242, 5, vec![5]));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(resolve_in(PASSWD, GROUP, Some("nobody2"), None)
            .unwrap_err()
            .contains("nobody2"));
        assert!(resolve_in(PASSWD, GROUP, Some("www"), Some("nogroup2"))
            .unwrap_err()
            .contains("nogroup2"));
    }
}
