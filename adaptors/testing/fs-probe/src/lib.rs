//! A test-only component that reads files, so it imports `wasi:filesystem`: the host
//! must refuse to load it.

use kit::wit::types::{Error, Output};

kit::bindings!("openfn:probe/fs-probe", "../wit");

use exports::openfn::probe::files::Guest;

struct FsProbe;

impl Guest for FsProbe {
    fn read_file(path: String) -> Result<Output, Error> {
        let text = std::fs::read_to_string(&path).map_err(|e| kit::error::transport(e.to_string()))?;
        kit::finish(Ok(kit::Output::data(text.into())))
    }
}

kit::export_configuration!(FsProbe, Vec::new(), || Ok(()));

export!(FsProbe);
