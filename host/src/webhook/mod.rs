//! Receiving OpenCRVS webhook deliveries: the signature check, the on-disk spool that
//! keeps accepted events until their job has run, and the record an event is about.

mod record;
mod signature;
mod spool;

pub use record::record_of;
pub use signature::{SignatureError, sign, verify};
pub use spool::{Attempt, Spool, SpoolOptions, Spooled};
