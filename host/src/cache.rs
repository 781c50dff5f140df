//! Compiled components on disk: `<sha256 of the wasm>-<engine compatibility hash>.cwasm`,
//! written to a temporary file and renamed into place, so a second run loads in
//! about a millisecond instead of compiling again.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{Error, Result};

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
    /// that cannot be read or written is skipped with a warning, never fatal.
    pub fn component(&self, engine: &Engine, name: &str, wasm: &[u8]) -> Result<Component> {
        let load_error = |e: wasmtime::Error| Error::Load {
            name: name.to_string(),
            reason: format!("{e:#}"),
        };
        let path = self.dir.join(self.key(engine, wasm));
        if path.exists() {
            // A .cwasm is machine code that runs as is: only this host writes this
            // directory (named by the wasm's hash), and wasmtime refuses one built for
            // another engine configuration.
            match load_trusted(engine, &path) {
                Ok(component) => {
                    tracing::debug!(adaptor = name, path = %path.display(), "loaded compiled component from cache");
                    return Ok(component);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e:#}")
                }
            }
        }
        let compiled = engine.precompile_component(wasm).map_err(load_error)?;
        if let Err(e) = self.store(&path, &compiled) {
            tracing::warn!(dir = %self.dir.display(), "cannot write the component cache: {e}");
        }
        load_trusted_bytes(engine, &compiled).map_err(load_error)
    }

    fn key(&self, engine: &Engine, wasm: &[u8]) -> String {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let digest = Sha256::digest(wasm);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{hex}-{:016x}.cwasm", hasher.finish())
    }

    fn store(&self, path: &std::path::Path, compiled: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, compiled)?;
        std::fs::rename(&tmp, path)
    }
}

#[allow(unsafe_code, reason = "loading our own compiled components; see Cache::component")]
fn load_trusted(engine: &Engine, path: &std::path::Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `Cache::store` from `precompile_component` output
    // for this engine's configuration; wasmtime rejects a mismatched engine.
    unsafe { Component::deserialize_file(engine, path) }
}

#[allow(unsafe_code, reason = "loading bytes this process just compiled")]
fn load_trusted_bytes(engine: &Engine, compiled: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `compiled` came from `engine.precompile_component` in this process.
    unsafe { Component::deserialize(engine, compiled) }
}
