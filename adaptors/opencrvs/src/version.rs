//! The OpenCRVS generations an adaptor must tell apart (`configuration.version`).

use std::fmt;

use kit::error::{self, Error};

/// The server generation, which decides each operation's route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// No `version` configured: the routes of the JavaScript adaptor 1.2.2.
    Unspecified,
    /// 1.8 and earlier: FHIR notifications, GraphQL search, webhooks.
    V1,
    /// 1.9: events v2 (two-step notify via `/events/notifications`), REST search.
    V1_9,
    /// 2.0: `/events/{id}/notify`, token at the gateway, no FHIR, GraphQL or webhooks.
    V2_0,
}

impl Version {
    /// Reads `configuration.version`: `"1.3"`..`"1.8"` (any patch), `"1.9"`, `"2.0"`.
    pub fn parse(value: Option<&str>) -> Result<Version, Error> {
        let Some(value) = value else {
            return Ok(Version::Unspecified);
        };
        let mut parts = value.trim().trim_start_matches('v').split('.');
        let major = parts.next().and_then(|p| p.parse::<u32>().ok());
        let minor = parts.next().map_or(Some(0), |p| p.parse::<u32>().ok());
        match (major, minor) {
            (Some(1), Some(m)) if m <= 8 => Ok(Version::V1),
            (Some(1), Some(9)) => Ok(Version::V1_9),
            (Some(2), Some(0)) => Ok(Version::V2_0),
            _ => Err(error::configuration(
                "version",
                &format!("is {value:?}: expected \"1.8\" (or an earlier 1.x), \"1.9\" or \"2.0\""),
            )),
        }
    }

    /// Refuses `operation` on this generation, with `hint` (what to use instead).
    pub fn unavailable(self, operation: &str, hint: &str) -> Error {
        error::invalid_argument(format!("{operation} is not available in OpenCRVS {self}: {hint}"))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::Unspecified => "(unspecified version)",
            Version::V1 => "1.8 and earlier",
            Version::V1_9 => "1.9",
            Version::V2_0 => "2.0",
        })
    }
}
