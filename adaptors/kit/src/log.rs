//! The job log, written through the host (`openfn:adaptor/host.log`). The host tags
//! each line with the adaptor and operation and masks configuration values in it.

use crate::wit::host::{self, Level};

/// Logs at debug level.
pub fn debug(message: &str) {
    host::log(Level::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    host::log(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    host::log(Level::Warn, message);
}
