//! Reading the assignments of a unit file for the mapping: each one is marked when a
//! mapping uses it; what is left unused at the end becomes a warning with the reason from
//! `unmapped_reason`, so nothing is dropped without a word.

use super::ini::Entry;
use super::values;
use super::words;

pub struct Note {
    pub line: usize,
    pub text: String,
}

/// The assignments of one file, each marked when a mapping has used it.
pub struct Reader<'a> {
    pub entries: &'a [Entry],
    used: Vec<bool>,
    pub notes: Vec<Note>,
}

impl<'a> Reader<'a> {
    pub fn new(entries: &'a [Entry]) -> Self {
        Reader {
            entries,
            used: vec![false; entries.len()],
            notes: Vec::new(),
        }
    }

    pub fn warn(&mut self, line: usize, text: String) {
        self.notes.push(Note { line, text });
    }

    /// Every assignment of `key` in `section`, in order, now marked used.
    pub fn all(&mut self, section: &str, key: &str) -> Vec<&'a Entry> {
        let mut out = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if e.section == section && e.key == key {
                self.used[i] = true;
                out.push(e);
            }
        }
        out
    }

    /// The value in force: the last assignment, `None` if absent or reset to empty.
    pub fn last(&mut self, section: &str, key: &str) -> Option<&'a Entry> {
        self.all(section, key).pop().filter(|e| !e.value.is_empty())
    }

    /// The assignments in force of a list directive: an empty one resets the list.
    pub fn accumulated(&mut self, section: &str, key: &str) -> Vec<&'a Entry> {
        let mut out = Vec::new();
        for e in self.all(section, key) {
            if e.value.is_empty() {
                out.clear();
            } else {
                out.push(e);
            }
        }
        out
    }

    /// The words of a list directive (quotes honoured), each with its line.
    pub fn words(&mut self, section: &str, key: &str) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        for e in self.accumulated(section, key) {
            match words::split(&e.value) {
                Ok(ws) => out.extend(ws.into_iter().map(|w| (w.text, e.line))),
                Err(why) => self.warn(e.line, format!("{key}=: {why}; not imported")),
            }
        }
        out
    }

    /// A boolean directive; a bad value is a warning.
    pub fn boolean(&mut self, section: &str, key: &str) -> Option<(bool, usize)> {
        let e = self.last(section, key)?;
        match values::boolean(&e.value) {
            Some(b) => Some((b, e.line)),
            None => {
                self.warn(
                    e.line,
                    format!("{key}={}: not a boolean; not imported", e.value),
                );
                None
            }
        }
    }

    /// Warnings for every assignment no mapping used.
    pub fn report_unused(&mut self) {
        for (i, e) in self.entries.iter().enumerate() {
            if !self.used[i] {
                let text = format!(
                    "[{}] {}={}: {}",
                    e.section,
                    e.key,
                    short_value(&e.value),
                    unmapped_reason(&e.section, &e.key)
                );
                self.notes.push(Note { line: e.line, text });
            }
        }
    }
}

fn short_value(v: &str) -> String {
    if v.chars().count() > 60 {
        let cut: String = v.chars().take(60).collect();
        format!("{cut}…")
    } else {
        v.to_string()
    }
}

/// Why a directive is not imported.
fn unmapped_reason(section: &str, key: &str) -> String {
    let known: &[(&str, &str)] = &[
        ("ExecReload", "sup has no reload action; send the unit a signal with `supctl kill -s HUP UNIT`"),
        ("ExecStartPost", "sup has no command after start; use a readiness probe or a unit ordered after this one"),
        ("ExecStopPost", "sup has no command after stop; use on_failure or a oneshot unit"),
        ("ExecCondition", "sup has no start condition; not imported"),
        ("PIDFile", "sup supervises the process it starts and never reads PID files"),
        ("KillMode", "sup sends stop.signal to the main process, then SIGKILL to every process of the unit after stop.timeout (KillMode=mixed); other modes have no equivalent"),
        ("RestartPreventExitStatus", "sup has no exit statuses that prevent restarting"),
        ("RestartForceExitStatus", "sup has no exit statuses that force restarting"),
        ("SuccessExitStatus", "sup counts only exit code 0 as success"),
        ("RemainAfterExit", "a finished sup oneshot stays done (RemainAfterExit=yes); =no has no equivalent"),
        ("Alias", "sup units have one name (their file name)"),
        ("Also", "sup has no install step"),
        ("DefaultInstance", "sup has no template units"),
        ("DynamicUser", "sup has no dynamic users; set user to an existing account"),
        ("SupplementaryGroups", "sup sets the user's own supplementary groups only"),
        ("Nice", "sup has no nice setting; wrap the command in `nice -n N`"),
        ("OOMScoreAdjust", "sup has no OOM score setting"),
        ("Slice", "a systemd slice is not a sup slice: write a slice file (kind: slice) and set slice"),
        ("SyslogIdentifier", "sup logs a unit's output to its own log file"),
        ("IgnoreSIGPIPE", "sup starts processes with SIGPIPE at its default action (IgnoreSIGPIPE=no)"),
        ("SendSIGKILL", "sup always ends a stop with SIGKILL to the unit's remaining processes"),
        ("RestartSteps", "sup doubles the restart delay per failure up to restart.max_delay"),
        ("DefaultDependencies", "sup adds no implicit dependencies (the effect of DefaultDependencies=no)"),
        ("BusName", "sup has no D-Bus readiness; the unit is ready once started"),
        ("NotifyAccess", "sup accepts notifications from the unit's processes (NotifyAccess=all)"),
    ];
    if let Some((_, why)) = known.iter().find(|(k, _)| *k == key) {
        return format!("not imported: {why}");
    }
    if key.starts_with("X-") || section.starts_with("X-") {
        return "not imported: an extension directive (X-), which systemd ignores too".to_string();
    }
    if !["Unit", "Service", "Install"].contains(&section) {
        return format!("not imported: sup has no [{section}] section");
    }
    if key.starts_with("Condition") || key.starts_with("Assert") {
        return "not imported: sup has no start conditions; the unit always starts".to_string();
    }
    if key.starts_with("Protect")
        || key.starts_with("Private")
        || key.starts_with("Restrict")
        || key.starts_with("System")
        || key.ends_with("Paths")
        || key.ends_with("Directory")
        || key.ends_with("DirectoryMode")
        || key.starts_with("Lock")
        || key.starts_with("Memory")
        || key.starts_with("IP")
    {
        return "not imported: sup has no equivalent of this sandboxing or resource setting"
            .to_string();
    }
    "not imported: no sup equivalent".to_string()
}
