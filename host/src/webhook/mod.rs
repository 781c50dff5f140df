//! Receiving OpenCRVS webhook deliveries: the signature check and the on-disk spool
//! that keeps accepted events until their job has run.

mod signature;
mod spool;

pub use signature::{SignatureError, sign, verify};
pub use spool::{Attempt, Spool, SpoolOptions, Spooled};
