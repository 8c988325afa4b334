//! sup: a small, event-driven Linux init and process supervisor.
//!
//! Layers, top to bottom (dependencies point downward only):
//! - `runtime`: the mio event loop, the only caller of `Poll::poll`; turns OS events into
//!   engine inputs and carries out the engine's effects through the platform.
//! - `engine`: pure lifecycle state machine, dependency graph and timers; no I/O, no clock.
//! - `unit`: YAML unit files → validated specs; `ctl`: control protocol; `output`: logs.
//! - `platform`: spawn, signal, reap and OS event sources (Linux backend).

pub mod ctl;
pub mod engine;
pub mod import;
pub mod limits;
pub mod output;
pub mod platform;
pub mod proc;
pub mod runtime;
pub mod unit;
