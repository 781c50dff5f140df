//! Strict simulators of the APIs the adaptors talk to, and of OpenFn Lightning (which
//! hands jobs to a worker), as real servers on loopback. They answer as the real
//! servers do, with the real status codes and error bodies, and reject what the real
//! servers reject; they also record every request so tests can check what the
//! adaptors sent.
//!
//! Each simulator runs on its own thread and runtime, so it serves both async tests
//! and blocking ones (a test that runs the `adaptor-host` binary), and stops when its
//! [`Running`] handle is dropped.

#![allow(
    clippy::result_large_err,
    reason = "handlers return early with a whole axum response"
)]

mod client;
pub mod lightning;
pub mod opencrvs;
pub mod openlmis;
mod server;

pub use server::{Recorded, Running};
