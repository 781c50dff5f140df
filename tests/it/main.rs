//! Integration tests: the real host (library and binary) running the real adaptor
//! components against real HTTP servers on loopback.
//!
//! One test binary; each module is one topic.

/// Host-side bounds: depth, state size, adaptor output, log bytes, memory refusals.
mod bounds;
/// Shared set-up: the host, simulators with canary credentials, the CLI runner.
mod util;

/// `adaptor-host run --batch`: one input state per line, concurrent, output in order.
mod batch;
/// The compiled-component cache: private directories, entries verified before loading.
mod cache_integrity;
/// `adaptor-host run` end to end: output state, exit codes, secrets, bad input.
mod cli;
/// language-common's job API beyond the operations: lodash as `_`, `dateFns`,
/// `validate`, `beta.each`, `util`.
mod common_api;
/// Contract 0.2: state composition, configuration declarations, OpenFn fidelity.
mod contract;
/// The library's run API: events, reasons, cancellation, queueing, run limits, leaves.
mod engine;
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
/// Secrets with awkward characters stay masked in every escaped or encoded form.
mod masking;
/// The host's pooled HTTP client: connection reuse within and across jobs, HTTPS with
/// HTTP/2 and an extra CA, and the resolved-address check on configured names.
mod network;
/// The OpenCRVS adaptor across versions: tokens, notifications, search, locations.
mod opencrvs;
/// The OpenLMIS adaptor's generic operations, paging and tokens.
mod openlmis;
/// The host's network policy, independent of any guest-side URL check.
mod policy;
/// Property tests: job parsing and --allow-host rules on arbitrary input.
mod properties;
/// OpenLMIS requisitions: the status machine, ETags, idempotency, batch approval.
mod requisitions;
/// OpenLMIS retries: which failures, how often, how long.
mod retries;
/// OpenLMIS stock events, stock on hand and reference-data lookups.
mod stock;
/// OpenCRVS webhooks: subscription, `adaptor-host serve`, signatures, the spool.
mod webhooks;
/// `adaptor-host worker` against the Lightning simulator: reasons, limits, reconnects,
/// shutdown, a thousand runs.
mod worker;
/// Workflows: steps across adaptors, credential maps, edges.
mod workflows;
