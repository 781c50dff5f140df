//! The spool: accepted deliveries on disk until their job has run.
//!
//! `pending/` holds accepted events, written (and synced) before the sender gets its
//! 2xx, so a job failure or a restart loses none; they are replayed in arrival order
//! on start. After its job, an event moves to `done/` or `failed/`. Files are named
//! `<arrival time>-<sha256 of the body>.json`: a delivery whose body is already
//! spooled (OpenCRVS retries after network errors) is recognised and not run twice.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

/// An event in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    /// Its file in `pending/`.
    pub path: PathBuf,
}

impl Spooled {
    /// The file name, which also names the job's output.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

const STATES: [&str; 3] = ["pending", "done", "failed"];

impl Spool {
    /// Opens (creating if needed) a spool in `dir`.
    pub fn open(dir: &Path) -> std::io::Result<Spool> {
        for state in STATES {
            fs::create_dir_all(dir.join(state))?;
        }
        Ok(Spool { dir: dir.to_path_buf() })
    }

    /// Stores `body` in `pending/`, durably. `None` when the same body was spooled
    /// before (pending, done or failed): a duplicate delivery.
    pub fn accept(&self, body: &[u8]) -> std::io::Result<Option<Spooled>> {
        let hash = hex::encode(Sha256::digest(body));
        let suffix = format!("-{hash}.json");
        for state in STATES {
            for entry in fs::read_dir(self.dir.join(state))? {
                if entry?.file_name().to_string_lossy().ends_with(&suffix) {
                    return Ok(None);
                }
            }
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let name = format!("{nanos:024}{suffix}");
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(body)?;
        file.sync_all()?;
        let path = self.dir.join("pending").join(&name);
        fs::rename(&tmp, &path)?;
        // The rename itself must survive a crash too.
        fs::File::open(self.dir.join("pending"))?.sync_all()?;
        Ok(Some(Spooled { path }))
    }

    /// Events whose job has not finished, oldest first.
    pub fn pending(&self) -> std::io::Result<Vec<Spooled>> {
        let mut paths: Vec<PathBuf> = fs::read_dir(self.dir.join("pending"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        Ok(paths.into_iter().map(|path| Spooled { path }).collect())
    }

    /// Moves an event out of `pending/` once its job has run.
    pub fn finish(&self, event: &Spooled, succeeded: bool) -> std::io::Result<()> {
        let target = self
            .dir
            .join(if succeeded { "done" } else { "failed" })
            .join(event.name());
        fs::rename(&event.path, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_events_in_order_and_recognises_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let first = spool.accept(b"{\"n\":1}").unwrap().unwrap();
        let second = spool.accept(b"{\"n\":2}").unwrap().unwrap();
        assert_eq!(spool.accept(b"{\"n\":1}").unwrap(), None, "a duplicate");
        assert_eq!(spool.pending().unwrap(), [first.clone(), second.clone()]);
        spool.finish(&first, true).unwrap();
        assert_eq!(spool.pending().unwrap(), [second]);
        assert_eq!(spool.accept(b"{\"n\":1}").unwrap(), None, "still a duplicate once done");
        // Another process (a restart) sees the same spool.
        assert_eq!(Spool::open(dir.path()).unwrap().pending().unwrap().len(), 1);
    }
}
