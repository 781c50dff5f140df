//! The spool: accepted deliveries on disk until their job has run.
//!
//! `pending/` holds accepted events, written (and synced) before the sender gets its
//! 2xx, so a job failure or a restart loses none; they are replayed in arrival order
//! on start. After its job, an event moves to `done/` or `failed/`; the newest
//! `retention` of each are kept, older ones deleted. Files are named
//! `<arrival time>-<sha256 of the body>.json`.
//!
//! Duplicates (OpenCRVS retries after network errors) are recognised by a marker
//! `seen/<sha256>`, created with `create_new` while holding a lock for that hash: the
//! check and the claim are one atomic step, so identical deliveries arriving together
//! are spooled once, and a delivery costs one file creation however long the history.
//! A marker lives as long as its event (retention deletes both); markers without an
//! event (a crash between the two writes) are removed on open, so such a delivery is
//! accepted again when its sender retries.
//!
//! Before each run of an event's job its attempt count (`attempts/<name>`) is
//! incremented and synced, so a job that crashes the whole process counts too. An
//! event already tried `max_attempts` times moves to `dead/` instead of running again:
//! a poison event is not replayed on every start. `dead/` is never pruned. A run
//! stopped on purpose (a shutdown) gives its attempt back ([`Spool::release`]).
//!
//! A failed write (a full disk) removes its temporary file and its marker; temporary
//! files left by a crash are removed on open.

use std::collections::{HashSet, VecDeque};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// What a spool keeps, and how often it retries.
#[derive(Debug, Clone, Copy)]
pub struct SpoolOptions {
    /// Finished events kept in each of `done/` and `failed/` (the oldest go first).
    /// Their markers go with them: this is also how long a duplicate is recognised.
    pub retention: usize,
    /// Runs an event's job may start before the event moves to `dead/`.
    pub max_attempts: u32,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions {
            retention: 10_000,
            max_attempts: 3,
        }
    }
}

/// The spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    options: SpoolOptions,
    /// Serialises the claim and the write of one body hash (striped by its first byte).
    locks: Arc<[Mutex<()>]>,
    /// Names in `done/` and `failed/`, oldest first, for retention without a scan.
    finished: Arc<Mutex<[VecDeque<String>; 2]>>,
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

/// Whether an event's job may run again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Run it: this is attempt number `n` (from 1), already recorded.
    Run(u32),
    /// It was tried `n` times already and has moved to `dead/`.
    Dead(u32),
}

const EVENTS: [&str; 4] = ["pending", "done", "failed", "dead"];
const SEEN: &str = "seen";
const ATTEMPTS: &str = "attempts";
const TMP: &str = ".tmp";

/// The body hash in an event's file name `<time>-<hash>.json`.
fn hash_of(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".json")?;
    let (_, hash) = stem.rsplit_once('-')?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

fn names(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

impl Spool {
    /// Opens (creating if needed) a spool in `dir` with the default options.
    pub fn open(dir: &Path) -> std::io::Result<Spool> {
        Spool::open_with(dir, SpoolOptions::default())
    }

    /// Opens (creating if needed) a spool in `dir`: removes temporary files a crash
    /// left, brings the duplicate markers in line with the events, and applies the
    /// retention. The only step whose cost grows with the spool's size.
    pub fn open_with(dir: &Path, options: SpoolOptions) -> std::io::Result<Spool> {
        for state in EVENTS.iter().chain([&SEEN, &ATTEMPTS]) {
            fs::create_dir_all(dir.join(state))?;
        }
        // Temporary files: only ever in the spool's root, named `.<name>.tmp`.
        let mut removed = 0;
        for name in names(dir)? {
            if name.ends_with(TMP) && fs::remove_file(dir.join(&name)).is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::warn!(
                files = removed,
                "removed temporary files an interrupted write left in the spool"
            );
        }

        let mut hashes = HashSet::new();
        let mut finished: [VecDeque<String>; 2] = Default::default();
        for state in EVENTS {
            for name in names(&dir.join(state))? {
                let Some(hash) = hash_of(&name) else { continue };
                hashes.insert(hash.to_string());
                match state {
                    "done" => finished[0].push_back(name),
                    "failed" => finished[1].push_back(name),
                    _ => {}
                }
            }
        }
        let seen = dir.join(SEEN);
        for marker in names(&seen)? {
            if !hashes.remove(&marker) {
                // Claimed, but its event was never written (a crash or a failed write).
                let _ = fs::remove_file(seen.join(&marker));
            }
        }
        // Events without a marker: spooled by a version without markers, or the
        // marker was lost in a crash.
        for hash in hashes {
            fs::File::create(seen.join(hash))?;
        }
        sync_dir(&seen)?;
        // Attempt counts of events no longer pending (a crash right after a move).
        let attempts = dir.join(ATTEMPTS);
        for name in names(&attempts)? {
            if !dir.join("pending").join(&name).exists() {
                let _ = fs::remove_file(attempts.join(name));
            }
        }

        let spool = Spool {
            dir: dir.to_path_buf(),
            options,
            locks: (0..64).map(|_| Mutex::new(())).collect(),
            finished: Arc::new(Mutex::new(finished)),
        };
        spool.prune()?;
        Ok(spool)
    }

    /// Stores `body` in `pending/`, durably. `None` when the same body was spooled
    /// before (and is still within the retention) or is being spooled right now: a
    /// duplicate delivery. On error nothing is left behind, so a retry can succeed.
    pub fn accept(&self, body: &[u8]) -> std::io::Result<Option<Spooled>> {
        let digest = Sha256::digest(body);
        let hash = hex::encode(digest);
        // A later identical delivery waits here until this one is written (or has
        // failed and released its claim), so it never answers "duplicate" for an event
        // that is not on disk.
        let _claim = self.locks[usize::from(digest[0]) % self.locks.len()]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let marker = self.dir.join(SEEN).join(&hash);
        match fs::OpenOptions::new().write(true).create_new(true).open(&marker) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => return Err(e),
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let name = format!("{nanos:024}-{hash}.json");
        let tmp = self.dir.join(format!(".{name}{TMP}"));
        let path = self.dir.join("pending").join(&name);
        let written = (|| {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(body)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            // The rename itself must survive a crash too.
            sync_dir(&self.dir.join("pending"))
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            if !path.exists() {
                let _ = fs::remove_file(&marker);
            }
            return Err(e);
        }
        Ok(Some(Spooled { path }))
    }

    /// Events whose job has not finished, oldest first.
    pub fn pending(&self) -> std::io::Result<Vec<Spooled>> {
        let dir = self.dir.join("pending");
        Ok(names(&dir)?
            .into_iter()
            .filter(|n| n.ends_with(".json"))
            .map(|n| Spooled { path: dir.join(n) })
            .collect())
    }

    /// Records, durably, that the event's job is about to run; or, if it already ran
    /// `max_attempts` times without finishing, moves it to `dead/`.
    pub fn begin(&self, event: &Spooled) -> std::io::Result<Attempt> {
        let counter = self.attempts_path(event);
        let tried = match fs::read_to_string(&counter) {
            Ok(text) => text.trim().parse::<u32>().unwrap_or(u32::MAX),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        if tried >= self.options.max_attempts {
            fs::rename(&event.path, self.dir.join("dead").join(event.name()))?;
            let _ = fs::remove_file(&counter);
            sync_dir(&self.dir.join("dead"))?;
            return Ok(Attempt::Dead(tried));
        }
        let attempt = tried + 1;
        self.write_attempts(event, attempt)?;
        Ok(Attempt::Run(attempt))
    }

    /// Takes back the attempt [`begin`](Self::begin) recorded, durably: the job was
    /// stopped on purpose (a shutdown) before it finished, so this run does not count
    /// towards `max_attempts`. The event stays in `pending/` and runs after a restart.
    pub fn release(&self, event: &Spooled) -> std::io::Result<()> {
        let counter = self.attempts_path(event);
        let tried = match fs::read_to_string(&counter) {
            Ok(text) => text.trim().parse::<u32>().unwrap_or(1),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if tried > 1 {
            return self.write_attempts(event, tried - 1);
        }
        fs::remove_file(&counter)?;
        sync_dir(&self.dir.join(ATTEMPTS))
    }

    /// Replaces the event's attempt count with `attempts`, atomically and durably.
    fn write_attempts(&self, event: &Spooled, attempts: u32) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(".{}.attempts{TMP}", event.name()));
        let written = (|| {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(attempts.to_string().as_bytes())?;
            file.sync_all()?;
            fs::rename(&tmp, self.attempts_path(event))?;
            sync_dir(&self.dir.join(ATTEMPTS))
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// Moves an event out of `pending/` once its job has run, and deletes the oldest
    /// finished events beyond the retention.
    pub fn finish(&self, event: &Spooled, succeeded: bool) -> std::io::Result<()> {
        let name = event.name();
        let state = if succeeded { "done" } else { "failed" };
        fs::rename(&event.path, self.dir.join(state).join(&name))?;
        let _ = fs::remove_file(self.attempts_path(event));
        self.finished.lock().unwrap_or_else(|p| p.into_inner())[usize::from(!succeeded)].push_back(name);
        self.prune()
    }

    fn attempts_path(&self, event: &Spooled) -> PathBuf {
        self.dir.join(ATTEMPTS).join(event.name())
    }

    fn prune(&self) -> std::io::Result<()> {
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        for (state, names) in ["done", "failed"].into_iter().zip(finished.iter_mut()) {
            while names.len() > self.options.retention {
                let Some(oldest) = names.pop_front() else { break };
                match fs::remove_file(self.dir.join(state).join(&oldest)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                if let Some(hash) = hash_of(&oldest) {
                    let _ = fs::remove_file(self.dir.join(SEEN).join(hash));
                }
            }
        }
        Ok(())
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
        let again = Spool::open(dir.path()).unwrap();
        assert_eq!(again.pending().unwrap().len(), 1);
        assert_eq!(
            again.accept(b"{\"n\":1}").unwrap(),
            None,
            "still a duplicate after a restart"
        );
    }

    #[test]
    fn identical_bodies_accepted_together_are_spooled_once() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let barrier = std::sync::Barrier::new(16);
        let accepted = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        spool.accept(b"{\"same\":true}").unwrap().is_some()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).filter(|&a| a).count()
        });
        assert_eq!(accepted, 1);
        assert_eq!(spool.pending().unwrap().len(), 1);
    }

    #[test]
    fn retention_keeps_the_newest_finished_events_and_forgets_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let options = SpoolOptions {
            retention: 2,
            max_attempts: 3,
        };
        let spool = Spool::open_with(dir.path(), options).unwrap();
        for n in 0..5 {
            let event = spool.accept(format!("{{\"n\":{n}}}").as_bytes()).unwrap().unwrap();
            spool.finish(&event, true).unwrap();
        }
        let done = names(&dir.path().join("done")).unwrap();
        assert_eq!(done.len(), 2);
        assert_eq!(names(&dir.path().join(SEEN)).unwrap().len(), 2);
        assert!(spool.accept(b"{\"n\":0}").unwrap().is_some(), "forgotten, so new again");
        assert!(spool.accept(b"{\"n\":4}").unwrap().is_none(), "kept, so a duplicate");
    }

    #[test]
    fn orphan_markers_and_temporary_files_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        Spool::open(dir.path()).unwrap();
        let hash = hex::encode(Sha256::digest(b"{}"));
        fs::write(dir.path().join(SEEN).join(&hash), "").unwrap();
        fs::write(dir.path().join(format!(".000-{hash}.json.tmp")), "").unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        assert!(!dir.path().join(format!(".000-{hash}.json.tmp")).exists());
        assert!(spool.accept(b"{}").unwrap().is_some(), "the orphan claim was released");
    }

    #[test]
    fn an_event_tried_too_often_goes_to_dead() {
        let dir = tempfile::tempdir().unwrap();
        let options = SpoolOptions {
            retention: 10,
            max_attempts: 2,
        };
        let spool = Spool::open_with(dir.path(), options).unwrap();
        let event = spool.accept(b"{\"poison\":1}").unwrap().unwrap();
        assert_eq!(spool.begin(&event).unwrap(), Attempt::Run(1));
        // A crash: the next process sees the count.
        let spool = Spool::open_with(dir.path(), options).unwrap();
        assert_eq!(spool.begin(&event).unwrap(), Attempt::Run(2));
        assert_eq!(spool.begin(&event).unwrap(), Attempt::Dead(2));
        assert!(spool.pending().unwrap().is_empty());
        assert_eq!(names(&dir.path().join("dead")).unwrap(), [event.name()]);
        assert!(spool.accept(b"{\"poison\":1}").unwrap().is_none(), "still known");
    }

    #[test]
    fn a_released_attempt_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let options = SpoolOptions {
            retention: 10,
            max_attempts: 2,
        };
        let spool = Spool::open_with(dir.path(), options).unwrap();
        let event = spool.accept(b"{\"stopped\":1}").unwrap().unwrap();
        spool
            .release(&event)
            .unwrap_or_else(|e| panic!("nothing to give back is not an error: {e}"));
        // A crash during attempt 1 counts; shutdowns during attempt 2 give it back.
        assert_eq!(spool.begin(&event).unwrap(), Attempt::Run(1));
        for _ in 0..3 {
            let spool = Spool::open_with(dir.path(), options).unwrap();
            assert_eq!(spool.begin(&event).unwrap(), Attempt::Run(2));
            spool.release(&event).unwrap();
        }
        assert_eq!(spool.pending().unwrap(), std::slice::from_ref(&event), "still pending");
        assert_eq!(spool.begin(&event).unwrap(), Attempt::Run(2));
        assert_eq!(spool.begin(&event).unwrap(), Attempt::Dead(2), "crashes still count");
    }
}
