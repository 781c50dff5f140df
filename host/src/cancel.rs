//! Cancelling a run from outside it.

use tokio_util::sync::CancellationToken;

/// A handle that cancels a run. Clone it freely: every clone cancels the same run.
///
/// A cancelled run stops its current job at once, even while the adaptor waits on a
/// slow server or spins (the job's sandbox is dropped at its next yield, at most one
/// epoch tick later), and returns the state reached so far with reason `cancel`.
#[derive(Debug, Clone, Default)]
pub struct Cancel(CancellationToken);

impl Cancel {
    /// A handle that has not been cancelled.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancels the run.
    pub fn cancel(&self) {
        self.0.cancel();
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Completes when the run is cancelled.
    pub async fn cancelled(&self) {
        self.0.cancelled().await;
    }
}
