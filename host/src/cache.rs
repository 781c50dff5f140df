//! Compiled components on disk: `<sha256 of the wasm>-<engine compatibility hash>.cwasm`,
//! so a second run loads in about a millisecond instead of compiling again. (The second
//! hash also covers how the component was made from the wasm, for the pre-initialized
//! JavaScript runtime; the SHA-256 of a built-in component is computed by `build.rs`,
//! not on each run.)
//!
//! An entry is two files: the `.cwasm`, exactly the bytes wasmtime compiled, which is
//! memory-mapped where it lies (`Component::deserialize_file`: no copy of the 15 MB
//! JavaScript runtime into the heap, and its initial memory image mapped from the file
//! rather than copied), and beside it `<entry>.sum`, which names the entry's key and
//! the length and CRC-32 of its bytes.
//!
//! A `.cwasm` is machine code that runs as is, so an entry is trusted only when:
//!
//! - the directory and both files belong to this user and no one else can write them
//!   (as ssh requires of its keys); otherwise the cache is skipped with a warning and
//!   the component compiled in memory;
//! - its `.sum` names the entry's own key, and the `.cwasm` has the length and CRC-32
//!   recorded there: a torn or truncated write, or another adaptor's entry copied over
//!   this one, is compiled again and rewritten, never loaded. (A checksum, not a
//!   cryptographic hash: it guards against accidents; the private directory guards
//!   against others, and the key, a SHA-256 of the wasm, names the component. Hashing
//!   a 15 MB entry with SHA-256 was a third of a cold start of the JavaScript runtime.)
//!
//! Both files are written to private temporary files, synced, and renamed into place,
//! the `.cwasm` first; a reader that sees a new `.cwasm` with an old `.sum` finds the
//! checksum wrong and compiles again.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{Error, Result};

/// The first line of every `.sum`; the next two are the entry's key and the length and
/// CRC-32 (`<length> <crc32 hex>`) of its `.cwasm`.
const MAGIC: &str = "adaptor-host cwasm v3";

/// The extension of an entry's checksum file, after the entry's own name.
const SUM: &str = "sum";

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// What a cache entry is compiled from: a component's bytes, and their SHA-256 (hex)
/// if it is known already (`build.rs` computes it for the built-in components).
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The component.
    pub bytes: &'a [u8],
    /// `bytes`' SHA-256 in lowercase hex, if known.
    pub digest: Option<&'a str>,
}

impl Cache {
    /// A cache in `dir`, created on first write.
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    /// The component for `wasm`, from the cache or compiled (and then cached). A cache
    /// that cannot be read or written, or that others could have written, is skipped
    /// with a warning, never fatal. `digest` is the SHA-256 of `wasm` (hex) where it is
    /// known already; otherwise it is computed here.
    pub fn component(&self, engine: &Engine, name: &str, wasm: &[u8], digest: Option<&str>) -> Result<Component> {
        let source = Source { bytes: wasm, digest };
        self.compiled(engine, name, source, "", || engine.precompile_component(wasm))
    }

    /// Like [`component`](Self::component), for a component made from `source` rather
    /// than `source` itself (the pre-initialized JavaScript runtime): the entry's key
    /// covers `source` and `variant`, which names how it was made, and on a miss
    /// `compile` makes and compiles it.
    pub fn compiled(
        &self,
        engine: &Engine,
        name: &str,
        source: Source<'_>,
        variant: &str,
        compile: impl FnOnce() -> wasmtime::Result<Vec<u8>>,
    ) -> Result<Component> {
        let load_error = |e: wasmtime::Error| Error::Load {
            name: name.to_string(),
            reason: format!("{e:#}"),
        };
        let key = self.key(engine, source, variant);
        let path = self.dir.join(&key);
        let usable = match self.ensure_private_dir() {
            Ok(()) => true,
            Err(why) => {
                tracing::warn!(dir = %self.dir.display(), "not using the component cache: {why}");
                false
            }
        };
        if usable {
            match verify_entry(&path, &key) {
                Ok(true) => match load_trusted_file(engine, &path) {
                    Ok(component) => {
                        tracing::debug!(adaptor = name, path = %path.display(), "loaded compiled component from cache");
                        return Ok(component);
                    }
                    Err(e) => tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e:#}"),
                },
                Ok(false) => {}
                Err(why) => tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {why}"),
            }
        }
        let compiled = compile().map_err(load_error)?;
        if usable && let Err(e) = self.store(&key, &compiled) {
            tracing::warn!(dir = %self.dir.display(), "cannot write the component cache: {e}");
        }
        load_trusted_bytes(engine, &compiled).map_err(load_error)
    }

    fn key(&self, engine: &Engine, source: Source<'_>, variant: &str) -> String {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        if !variant.is_empty() {
            variant.hash(&mut hasher);
        }
        let hex = match source.digest {
            Some(hex) => hex.to_string(),
            None => Sha256::digest(source.bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        };
        format!("{hex}-{:016x}.cwasm", hasher.finish())
    }

    /// Creates the directory (private to this user) if needed, and refuses one that
    /// another user owns or that others may write.
    fn ensure_private_dir(&self) -> std::result::Result<(), String> {
        if !self.dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|e| format!("cannot create it: {e}"))?;
        }
        let metadata = fs::metadata(&self.dir).map_err(|e| format!("cannot read it: {e}"))?;
        if !metadata.is_dir() {
            return Err("it is not a directory".into());
        }
        private(&metadata).map_err(|why| format!("the directory {why}"))
    }

    /// Writes the entry's `.cwasm`, then its `.sum`.
    fn store(&self, key: &str, compiled: &[u8]) -> std::io::Result<()> {
        let checksum = checksum(compiled);
        self.write_atomically(key, compiled)?;
        self.write_atomically(&sum_name(key), format!("{MAGIC}\n{key}\n{checksum}\n").as_bytes())
    }

    /// Writes `name` in the directory through a private temporary file, synced and
    /// renamed into place.
    fn write_atomically(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tmp = self.dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, self.dir.join(name))?;
            fs::File::open(&self.dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }
}

/// The name of the checksum file of the entry `key`.
fn sum_name(key: &str) -> String {
    format!("{key}.{SUM}")
}

/// `<length> <CRC-32 in hex>` of an entry's compiled bytes.
fn checksum(compiled: &[u8]) -> String {
    format!("{} {:08x}", compiled.len(), crc32fast::hash(compiled))
}

/// `Ok` when only this process's user owns and may write a file or directory.
fn private(metadata: &fs::Metadata) -> std::result::Result<(), String> {
    let me = effective_uid();
    if metadata.uid() != me {
        return Err(format!(
            "belongs to uid {}, not to this user (uid {me})",
            metadata.uid()
        ));
    }
    if metadata.mode() & 0o022 != 0 {
        return Err(format!(
            "is writable by other users (mode {:o}); make it private with chmod go-w",
            metadata.mode() & 0o7777
        ));
    }
    Ok(())
}

#[allow(unsafe_code, reason = "geteuid has no preconditions and cannot fail")]
fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory and always succeeds.
    unsafe { libc::geteuid() }
}

/// Opens `path` for reading if it exists, without following a symbolic link, and
/// checks it is a regular file private to this user.
fn open_private(path: &Path) -> std::result::Result<Option<(fs::File, fs::Metadata)>, String> {
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open it: {e}")),
    };
    // The checks apply to the open file itself, so a rename in between changes nothing.
    let metadata = file.metadata().map_err(|e| format!("cannot read it: {e}"))?;
    if !metadata.is_file() {
        return Err("it is not a regular file".into());
    }
    private(&metadata).map_err(|why| format!("the file {why}"))?;
    Ok(Some((file, metadata)))
}

/// `Ok(true)` when the entry at `path` exists, and it and its `.sum` are private, the
/// `.sum` names `key`, and the entry has the length and CRC-32 the `.sum` records;
/// `Ok(false)` when there is no entry to load (none yet, or of an older format).
fn verify_entry(path: &Path, key: &str) -> std::result::Result<bool, String> {
    let Some((mut entry, metadata)) = open_private(path)? else {
        return Ok(false);
    };
    let sum_path = path.with_file_name(sum_name(key));
    let Some((mut sum, _)) = open_private(&sum_path).map_err(|why| format!("its checksum file: {why}"))? else {
        // An entry of an older format (its header inside), or one whose .sum was lost.
        tracing::debug!(path = %path.display(), "replacing a cache entry without its checksum file");
        return Ok(false);
    };
    let mut recorded = String::new();
    sum.read_to_string(&mut recorded)
        .map_err(|e| format!("cannot read its checksum file: {e}"))?;
    let mut lines = recorded.lines();
    let (magic, named, digest) = (lines.next(), lines.next(), lines.next());
    if magic != Some(MAGIC) {
        tracing::debug!(path = %path.display(), "replacing a cache entry of an older format");
        return Ok(false);
    }
    let (Some(named), Some(digest)) = (named, digest) else {
        return Err("its checksum file is cut short (a truncated file)".into());
    };
    if named != key {
        return Err(format!(
            "its checksum file is the one of another component ({named}), copied or moved here"
        ));
    }
    // The CRC is computed through one small buffer: reading the entry into the heap was
    // most of a cold start of the JavaScript runtime.
    let mut crc = crc32fast::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match entry.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => crc.update(&buffer[..read]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read it: {e}")),
        }
    }
    if digest != format!("{} {:08x}", metadata.len(), crc.finalize()) {
        return Err("its content does not match the length and checksum recorded when it was written (torn, truncated, altered, or another component's entry copied over it)".into());
    }
    Ok(true)
}

#[allow(
    unsafe_code,
    reason = "mapping a verified cache entry that this user alone may write"
)]
fn load_trusted_file(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file at `path` was written by `Cache::store` from the output of
    // `engine.precompile_component`, in a directory and file only this user may write,
    // and its length and checksum were checked just now (`verify_entry`); wasmtime
    // rejects bytes built for another engine. Nothing in this program writes an entry
    // in place (entries are replaced by rename, which leaves a mapping intact).
    unsafe { Component::deserialize_file(engine, path) }
}

#[allow(unsafe_code, reason = "loading bytes this process compiled")]
fn load_trusted_bytes(engine: &Engine, compiled: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `compiled` came from `engine.precompile_component` in this process.
    unsafe { Component::deserialize(engine, compiled) }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    fn hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_digests_build_rs_computed_are_those_of_the_components_built_in() {
        for (name, bytes, digest) in crate::BUILTIN {
            assert_eq!(hex(bytes), digest, "{name}");
        }
        use crate::javascript::sandbox::{RUNTIME_SHA256, RUNTIME_WASM};
        assert_eq!(hex(RUNTIME_WASM), RUNTIME_SHA256, "js-runtime");
    }
}
