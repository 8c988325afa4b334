//! The Windows backend's state as the runtime holds it (a stub until the process and
//! event-loop parts of the seam are merged in: they add their fields here).

/// The Windows platform: each unit in its own job object.
#[derive(Debug, Default)]
pub struct WindowsPlatform {
    /// The units' jobs and their notifications (`ResourceGroups`).
    pub groups: super::groups::WindowsGroups,
}
