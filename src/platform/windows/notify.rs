//! Readiness channels on Windows: neither the sd_notify socket nor the s6 notification
//! fd exists there. Units asking for them (`ready: notify`, `ready: fd:N`, `watchdog`)
//! fail before they start (`unsupported`), and the channels themselves cannot be made.

use std::path::Path;

use mio::event::Source;
use mio::{Interest, Registry, Token};

use super::WindowsPlatform;

const PLATFORM: &str = "Windows";
use crate::platform::notify::{Notify, NotifyError, PipeRead};
use crate::proc::Pid;

/// No value: what cannot exist on Windows.
enum Void {}

/// Cannot exist on Windows (`Notify::notify_socket` refuses).
pub struct NotifySocket(Void);

impl NotifySocket {
    pub fn path(&self) -> &Path {
        match self.0 {}
    }

    pub fn recv(&self) -> Option<(Vec<u8>, Option<Pid>)> {
        match self.0 {}
    }

    pub fn carry(&self) -> std::io::Result<u64> {
        match self.0 {}
    }

    pub fn adopt(_handle: u64, _path: std::path::PathBuf) -> std::io::Result<NotifySocket> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

/// Cannot exist on Windows (`Notify::notify_pipe` refuses).
pub struct NotifyPipe(Void);

impl NotifyPipe {
    pub fn drain(&mut self) -> PipeRead {
        match self.0 {}
    }

    pub fn carry(&self) -> std::io::Result<u64> {
        match self.0 {}
    }

    pub fn adopt(_handle: u64) -> std::io::Result<NotifyPipe> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

/// Cannot exist on Windows.
pub struct ChildEnd(Void);

impl ChildEnd {
    /// Never called: no `ChildEnd` exists on Windows.
    pub fn raw(&self) -> i32 {
        match self.0 {}
    }
}

macro_rules! no_source {
    ($t:ty) => {
        impl Source for $t {
            fn register(&mut self, _: &Registry, _: Token, _: Interest) -> std::io::Result<()> {
                match self.0 {}
            }

            fn reregister(&mut self, _: &Registry, _: Token, _: Interest) -> std::io::Result<()> {
                match self.0 {}
            }

            fn deregister(&mut self, _: &Registry) -> std::io::Result<()> {
                match self.0 {}
            }
        }
    };
}

no_source!(NotifySocket);
no_source!(NotifyPipe);

impl Notify for WindowsPlatform {
    fn notify_socket(
        &mut self,
        _path: &Path,
        _user: Option<&str>,
    ) -> Result<NotifySocket, NotifyError> {
        Err(NotifyError::Unsupported {
            key: "ready: notify",
            platform: PLATFORM,
        })
    }

    fn notify_pipe(&mut self) -> Result<(NotifyPipe, ChildEnd), NotifyError> {
        Err(NotifyError::Unsupported {
            key: "ready: fd",
            platform: PLATFORM,
        })
    }
}
