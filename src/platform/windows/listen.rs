//! No listening sockets for units on Windows yet: `open` refuses, naming the key (the
//! platform's `unsupported` rule refuses such units before that).

use crate::platform::listen::ListenAddr;

enum Void {}

/// Cannot exist on Windows.
pub struct Listener(Void);

impl std::fmt::Debug for Listener {
    fn fmt(&self, _: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.0 {}
    }
}

impl Listener {
    pub fn open(_addr: &ListenAddr, _backlog: u32) -> Result<Listener, String> {
        Err("sockets: not available on Windows".to_string())
    }

    pub fn set_backlog(&self, _backlog: u32) -> Result<(), String> {
        match self.0 {}
    }

    pub fn raw(&self) -> i32 {
        match self.0 {}
    }

    pub fn carry(&self) -> std::io::Result<u64> {
        match self.0 {}
    }

    pub fn adopt(_handle: u64, _addr: &ListenAddr) -> std::io::Result<Listener> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}
