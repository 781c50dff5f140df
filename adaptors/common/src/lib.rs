//! The `common` adaptor: OpenFn's `@openfn/language-common` for jobs that need no API.
//!
//! Its operations interface is empty: language-common's functions are JavaScript and
//! run in the JavaScript runtime, and a JSON job with this adaptor may use the host's
//! built-in operations only. The configuration declaration is empty (no fields, so no
//! origin the job may reach and nothing to mask).

kit::bindings!("openfn:common/adaptor");

struct Common;

kit::export_configuration!(Common, Vec::new(), || Ok(()));

export!(Common);
