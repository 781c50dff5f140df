//! Integration tests: the real host (library and binary) running the real adaptor
//! components against real HTTP servers on loopback.
//!
//! One test binary; each module is one topic.

/// Shared set-up: the host, simulators with canary credentials, the CLI runner.
mod util;

/// The compiled-component cache: private directories, entries verified before loading.
mod cache_integrity;
/// `adaptor-host run` end to end: output state, exit codes, secrets, bad input.
mod cli;
/// Contract 0.2: state composition, configuration declarations, OpenFn fidelity.
mod contract;
/// `adaptor-host demo`: every example job, end to end.
mod examples;
/// `adaptor-host serve` under hostile traffic: duplicates at once, slow connections,
/// a long history, a full disk, poison events.
mod hostile;
/// JavaScript jobs in the sandboxed runtime: OpenFn's compiler, language-common, errors,
/// limits.
mod javascript;
/// The guest kit's HTTP client under sustained sequential load.
mod kit;
/// The sandbox's limits: memory, CPU, wall time, requests, response size, logs.
mod limits;
/// Loading: the import allow-list, reflection, the compiled-component cache.
mod load;
/// The OpenCRVS adaptor across versions: tokens, notifications, search, locations.
mod opencrvs;
/// The OpenLMIS adaptor's generic operations, paging and tokens.
mod openlmis;
/// The host's network policy, independent of any guest-side URL check.
mod policy;
/// OpenLMIS requisitions: the status machine, ETags, idempotency, batch approval.
mod requisitions;
/// OpenLMIS retries: which failures, how often, how long.
mod retries;
/// OpenLMIS stock events, stock on hand and reference-data lookups.
mod stock;
/// OpenCRVS webhooks: subscription, `adaptor-host serve`, signatures, the spool.
mod webhooks;
/// Workflows: steps across adaptors, credential maps, edges.
mod workflows;
