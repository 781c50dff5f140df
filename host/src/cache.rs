//! Compiled components on disk: `<sha256 of the wasm>-<engine compatibility hash>.cwasm`,
//! so a second run loads in about a millisecond instead of compiling again.
//!
//! A `.cwasm` is machine code that runs as is, so an entry is trusted only when:
//!
//! - the directory and the file belong to this user and no one else can write them
//!   (as ssh requires of its keys); otherwise the cache is skipped with a warning and
//!   the component compiled in memory;
//! - its header names the entry's own key, and the length and CRC-32 of the bytes
//!   that follow, and those bytes match them: a torn or truncated write, or another
//!   adaptor's entry copied over this one, is compiled again and rewritten, never
//!   loaded. (A checksum, not a cryptographic hash: it guards against accidents; the
//!   private directory guards against others, and the key, a SHA-256 of the wasm,
//!   names the component. Hashing a 15 MB entry with SHA-256 was a third of a cold
//!   start of the JavaScript runtime.)
//!
//! Entries are written to a private temporary file, synced, and renamed into place.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{Error, Result};

/// The first line of every entry; the next two are its key and the length and CRC-32
/// (`<length> <crc32 hex>`) of the compiled bytes after the header.
const MAGIC: &str = "adaptor-host cwasm v2";

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// A cache in `dir`, created on first write.
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    /// The component for `wasm`, from the cache or compiled (and then cached). A cache
    /// that cannot be read or written, or that others could have written, is skipped
    /// with a warning, never fatal.
    pub fn component(&self, engine: &Engine, name: &str, wasm: &[u8]) -> Result<Component> {
        self.compiled(engine, name, wasm, "", || engine.precompile_component(wasm))
    }

    /// Like [`component`](Self::component), for a component made from `source` rather
    /// than `source` itself (the pre-initialized JavaScript runtime): the entry's key
    /// covers `source` and `variant`, which names how it was made, and on a miss
    /// `compile` makes and compiles it.
    pub fn compiled(
        &self,
        engine: &Engine,
        name: &str,
        source: &[u8],
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
            match read_entry(&path, &key) {
                Ok(Some(compiled)) => match load_trusted_bytes(engine, &compiled) {
                    Ok(component) => {
                        tracing::debug!(adaptor = name, path = %path.display(), "loaded compiled component from cache");
                        return Ok(component);
                    }
                    Err(e) => tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e:#}"),
                },
                Ok(None) => {}
                Err(why) => tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {why}"),
            }
        }
        let compiled = compile().map_err(load_error)?;
        if usable && let Err(e) = self.store(&key, &compiled) {
            tracing::warn!(dir = %self.dir.display(), "cannot write the component cache: {e}");
        }
        load_trusted_bytes(engine, &compiled).map_err(load_error)
    }

    fn key(&self, engine: &Engine, wasm: &[u8], variant: &str) -> String {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        // An empty variant keeps the plain SHA-256 of the wasm.
        let digest = Sha256::new().chain_update(wasm).chain_update(variant).finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
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

    fn store(&self, key: &str, compiled: &[u8]) -> std::io::Result<()> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tmp = self.dir.join(format!(
            ".{key}.{}.{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            let checksum = checksum(compiled);
            file.write_all(format!("{MAGIC}\n{key}\n{checksum}\n").as_bytes())?;
            file.write_all(compiled)?;
            file.sync_all()?;
            fs::rename(&tmp, self.dir.join(key))?;
            fs::File::open(&self.dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }
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

/// The compiled bytes of the entry at `path` if it exists, is private, is named `key`
/// in its header and hashes to the digest its header records.
fn read_entry(path: &Path, key: &str) -> std::result::Result<Option<Vec<u8>>, String> {
    let mut file = match fs::OpenOptions::new()
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
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let mut lines = bytes.splitn(4, |&b| b == b'\n');
    let (magic, named, digest) = (lines.next(), lines.next(), lines.next());
    let compiled = lines.next();
    if magic != Some(MAGIC.as_bytes()) && !MAGIC.as_bytes().starts_with(&bytes) {
        // Written by an earlier version, without a header: replaced quietly.
        tracing::debug!(path = %path.display(), "replacing a cache entry of an older format");
        return Ok(None);
    }
    let (Some(named), Some(digest), Some(compiled)) = (named, digest, compiled) else {
        return Err("its header is cut short (a truncated file)".into());
    };
    if named != key.as_bytes() {
        return Err(format!(
            "it is the entry of another component ({}), copied or moved here",
            String::from_utf8_lossy(named)
        ));
    }
    if digest != checksum(compiled).as_bytes() {
        return Err(
            "its content does not match the length and checksum recorded when it was written (torn, truncated or altered)".into(),
        );
    }
    Ok(Some(compiled.to_vec()))
}

#[allow(
    unsafe_code,
    reason = "loading bytes this process compiled, or a verified cache entry"
)]
fn load_trusted_bytes(engine: &Engine, compiled: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `compiled` came from `engine.precompile_component`, in this process or in
    // an earlier one that wrote it to a private cache entry whose key and checksum were
    // checked (`read_entry`); wasmtime rejects bytes built for another engine.
    unsafe { Component::deserialize(engine, compiled) }
}
