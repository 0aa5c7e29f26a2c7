//! mqsim: a deterministic discrete-event simulator of message-queue
//! reliability.
//!
//! Data flows one way: a [`scenario`] file is loaded and checked, compiled
//! into a [`model`], simulated by [`sim`] on the [`engine`]'s event queue,
//! counted by [`stats`], repeated and compared by [`experiment`], and shown
//! by [`report`], over a base of shared parts (time, random streams, the
//! event queue, tables, names, retry strategies). `tests/architecture.rs`
//! checks that no module names one above it (the exceptions left are
//! listed there).

// A scenario error carries the file, line, column, key and origin so that
// the message can say where and why; it is created once per failed load, so
// its size does not matter.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod cli;
pub mod engine;
pub mod experiment;
pub mod json;
#[cfg(feature = "live")]
pub mod live;
pub mod model;
pub mod names;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod stats;
pub mod strategy;
pub(crate) mod table;
pub mod time;
pub mod words;
