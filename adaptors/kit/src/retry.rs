//! Retrying failed requests: bounded in count and in total time, with exponential
//! backoff and jitter, honouring `Retry-After`.
//!
//! Only what can be repeated safely is retried: GET, HEAD, PUT, DELETE and OPTIONS,
//! and POST or PATCH when the request carries an `Idempotency-Key`. Only what may pass
//! is retried: 429, 502, 503, 504 and connection failures. Other 4xx statuses never
//! are (401 is handled by the adaptor's re-login, once).

use std::time::{Duration, Instant};

use wasip2::clocks::monotonic_clock;

use crate::http::{self, Request, Response, TransportError};
use crate::wit::types::{Method, RetryPolicy};

/// Retries after the first attempt, unless the job says otherwise.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// The first backoff; each retry doubles it (before jitter).
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(500);
/// The total time all attempts and waits may take.
pub const DEFAULT_MAX_ELAPSED: Duration = Duration::from_secs(60);
/// No single wait is longer than this, whatever `Retry-After` asks.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// When and how long to retry.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Retries after the first attempt (0: never retry).
    pub attempts: u32,
    /// The first backoff.
    pub base_delay: Duration,
    /// The time budget of all attempts together.
    pub max_elapsed: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            attempts: DEFAULT_ATTEMPTS,
            base_delay: DEFAULT_BASE_DELAY,
            max_elapsed: DEFAULT_MAX_ELAPSED,
        }
    }
}

impl From<&RetryPolicy> for Policy {
    fn from(p: &RetryPolicy) -> Self {
        let default = Policy::default();
        Policy {
            attempts: p.attempts.unwrap_or(default.attempts),
            base_delay: p
                .base_delay
                .map_or(default.base_delay, |ms| Duration::from_millis(ms.into())),
            max_elapsed: p
                .max_elapsed
                .map_or(default.max_elapsed, |ms| Duration::from_millis(ms.into())),
        }
    }
}

/// Whether `request` may be sent twice without doing its work twice.
pub fn is_idempotent(request: &Request) -> bool {
    match request.method {
        Method::Get | Method::Head | Method::Put | Method::Delete | Method::Options => true,
        Method::Post | Method::Patch => request
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("idempotency-key")),
    }
}

/// Statuses that say "try again later".
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Sends `request`, retrying as `policy` allows. Returns the last outcome.
pub fn send(request: &Request, policy: &Policy) -> Result<Response, TransportError> {
    let started = Instant::now();
    let idempotent = is_idempotent(request);
    let mut attempt = 0;
    loop {
        let outcome = request.send();
        let (why, retry_after) = match &outcome {
            Ok(response) if is_retryable_status(response.status) => {
                (format!("returned {}", response.status), retry_after(response))
            }
            Err(e) if e.retryable => (e.message.clone(), None),
            _ => return outcome,
        };
        if !idempotent || attempt >= policy.attempts {
            return outcome;
        }
        let delay = retry_after
            .unwrap_or_else(|| backoff(policy.base_delay, attempt))
            .min(MAX_DELAY);
        if started.elapsed() + delay > policy.max_elapsed {
            crate::log::warn(&format!(
                "{} {} {why}; not retrying: waiting {} ms would pass the retry budget of {} ms",
                http::method_name(&request.method),
                request.url,
                delay.as_millis(),
                policy.max_elapsed.as_millis()
            ));
            return outcome;
        }
        attempt += 1;
        crate::log::warn(&format!(
            "{} {} {why}; retry {attempt} of {} in {} ms",
            http::method_name(&request.method),
            request.url,
            policy.attempts,
            delay.as_millis()
        ));
        sleep(delay);
    }
}

/// `base * 2^attempt`, with up to 50% random jitter either way.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let exponential = base.saturating_mul(1 << attempt.min(16));
    let jitter = wasip2::random::random::get_random_u64() % 1000; // 0..1000 ‰
    exponential.mul_f64(0.5 + jitter as f64 / 1000.0)
}

/// `Retry-After` in delay-seconds (an HTTP date is treated as "no hint").
fn retry_after(response: &Response) -> Option<Duration> {
    response
        .header("retry-after")?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn sleep(duration: Duration) {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    monotonic_clock::subscribe_duration(nanos).block();
}
