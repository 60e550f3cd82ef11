//! systemd readiness and watchdog (no-ops when not run by systemd).
//!
//! A daemon calls [`ready`] only once its sockets exist with their final owner and mode, so
//! units ordered after it never see a half-started service; [`spawn_watchdog`] pings at half
//! the unit's `WatchdogSec` from the async runtime, so a wedged runtime gets restarted.

/// Tells systemd the service is ready.
pub fn ready() {
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!(%e, "cannot notify systemd");
    }
}

/// Tells systemd the service is stopping.
pub fn stopping() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}

/// Starts the watchdog pings when the unit sets `WatchdogSec`.
pub fn spawn_watchdog() {
    if let Some(period) = sd_notify::watchdog_enabled() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period / 2);
            loop {
                tick.tick().await;
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
        });
    }
}
