//! The instance boundary at start: this rumid's helper paths must not belong to another
//! live instance.
//!
//! # Security
//! A second rumid started on the first one's control socket paths (the defaults) used to
//! have its spawned helpers delete the first one's sockets and its `secrets set` reach the
//! first one's rumi-capd. Now, before any helper is started or reached:
//! - spawn mode: a control socket whose lock file (`<socket>.lock`) is held, or on which a
//!   process listens, stops the start with `RUMI-INST-001` naming the holder. A helper of
//!   our own previous run that is still exiting (it notices its parent is gone within half a
//!   second) is given [`CLAIM_WAIT`] to go.
//! - external mode: the helper on the path must prove it holds this instance's control key
//!   (`Hello`); one that answers and cannot stops the start the same way. One that does not
//!   answer yet is left to the supervisor, which keeps trying and never pushes to a helper
//!   that failed the proof.

use std::time::{Duration, Instant};

use rumi_common::control_key::ControlKey;
use rumi_common::uds;

use crate::config::{Config, HelperMode};
use crate::{RunError, RuntimePaths};

/// How long a held control socket may take to be released in spawn mode.
pub const CLAIM_WAIT: Duration = Duration::from_secs(3);

/// Refuses to start when another live instance holds one of the helpers' control sockets.
///
/// # Errors
/// [`RunError::InstanceConflict`] naming the socket and its holder.
pub(crate) async fn claim_helper_paths(
    config: &Config,
    paths: &RuntimePaths,
    key: &ControlKey,
) -> Result<(), RunError> {
    for (helper, path) in [("egressd", &paths.egressd_socket), ("capd", &paths.capd_socket)] {
        match config.helpers {
            HelperMode::Spawn => {
                let deadline = Instant::now() + CLAIM_WAIT;
                let holder = loop {
                    let p = path.clone();
                    let held = tokio::task::spawn_blocking(move || uds::lock_holder(&p).or_else(|| uds::holder(&p)))
                        .await
                        .map_err(|e| RunError::Task(e.to_string()))?;
                    match held {
                        None => break None,
                        Some(h) if Instant::now() > deadline => break Some(h),
                        Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                };
                if let Some(h) = holder {
                    return Err(RunError::InstanceConflict {
                        helper,
                        path: path.clone(),
                        holder: h.to_string(),
                    });
                }
            }
            HelperMode::External => {
                if let Some(why) = crate::supervisor::foreign_helper(path, key).await {
                    let p = path.clone();
                    let holder = tokio::task::spawn_blocking(move || uds::holder(&p))
                        .await
                        .map_err(|e| RunError::Task(e.to_string()))?
                        .map_or_else(|| "an unknown process".to_owned(), |h| h.to_string());
                    tracing::error!(helper, socket = %path.display(), %holder, reason = %why, "helper belongs to another instance");
                    return Err(RunError::InstanceConflict {
                        helper,
                        path: path.clone(),
                        holder,
                    });
                }
            }
        }
    }
    Ok(())
}
