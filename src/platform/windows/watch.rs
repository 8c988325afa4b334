//! File watches on Windows: not built yet. Units asking for `watch` are refused before
//! they start (`Platform::unsupported` names the key), so these are never reached for a
//! unit that runs.

use std::path::PathBuf;

use mio::{Registry, Token};

use super::WindowsPlatform;
use crate::platform::watch::{FileEvents, FileWatch, WatchError};
use crate::proc::UnitId;

impl FileWatch for WindowsPlatform {
    fn watch_files(
        &mut self,
        _: &Registry,
        _: Token,
        _: UnitId,
        _: &[PathBuf],
    ) -> Result<(), WatchError> {
        Err(WatchError::Unsupported {
            platform: "Windows",
        })
    }

    fn unwatch_files(&mut self, _: UnitId) {}

    fn file_events(&mut self) -> FileEvents {
        FileEvents::default()
    }
}
