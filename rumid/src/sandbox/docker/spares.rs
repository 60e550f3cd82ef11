//! Pristine spare containers (strict mode).
//!
//! A cold block call pays for creating and starting a container and for starting Python.
//! For each pack that ran recently Rumi keeps a few *spares*: containers created and started
//! from exactly the [`ContainerSpec`] of a cold run, whose runner has started Python and
//! imported the SDK and now waits for one job on stdin. A call claims a spare, sends its job
//! and reads the result; the container is then destroyed like a cold one. No container ever
//! runs two jobs.
//!
//! # Security
//! - A spare has run no pack code: only Rumi's runner, which blocks on stdin before it
//!   touches the pack.
//! - A spare is claimed only by a call that has already passed the fail-closed checks of a
//!   cold run, and only when the call's spec (image, flags, mounts, sockets, groups,
//!   environment) has the same digest as the spare's.
//! - Every change of approvals or grants ([`Spares::flush_all`]), and stopping or removing a
//!   pack's containers ([`Spares::flush_pack`]), destroys the spares concerned; spares still
//!   starting at that moment are destroyed when they come up (a generation counter).
//! - Spares expire after a TTL; per-pack and total counts are bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::Docker;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::{ContainerSpec, Started, start};

/// Bounds of the spare pool.
#[derive(Debug, Clone, Copy)]
pub struct SpareLimits {
    /// Spares kept per pack (0 disables spares).
    pub per_pack: usize,
    /// Spares kept in total.
    pub total: usize,
    /// A spare unclaimed for this long is destroyed.
    pub ttl: Duration,
}

/// Counters the pool keeps up to date (registered by [`crate::metrics::Metrics`]).
#[derive(Clone)]
pub struct SpareMetrics {
    pub spares: Gauge,
    pub claims: Counter,
    pub misses: Counter,
    pub start_seconds: Histogram,
}

impl Default for SpareMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl SpareMetrics {
    pub fn new() -> Self {
        Self {
            spares: Gauge::default(),
            claims: Counter::default(),
            misses: Counter::default(),
            start_seconds: Histogram::new([0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5]),
        }
    }
}

struct Spare {
    digest: String,
    started: Started,
    born: Instant,
}

#[derive(Default)]
struct Inner {
    by_pack: HashMap<String, Vec<Spare>>,
    /// Spares being started, per pack: the digest of each one's spec.
    starting: HashMap<String, Vec<String>>,
    /// Calls waiting for a starting spare, per digest: each starting spare is promised to at
    /// most one call, so no call waits for a spare another will take.
    promised: HashMap<String, usize>,
    /// Bumped by every flush; a spare started under an older generation is destroyed.
    generation: u64,
}

impl Inner {
    fn count(&self) -> usize {
        self.by_pack.values().map(Vec::len).sum()
    }

    /// Whether a spare of `pack` may start: none of it starting, fewer than its share
    /// waiting, and the total bound not reached.
    fn lacks_spare(&self, pack: &str, limits: &SpareLimits) -> bool {
        let waiting = self.by_pack.get(pack).map_or(0, Vec::len);
        let starting = self.starting.get(pack).map_or(0, Vec::len);
        let all = self.count() + self.starting.values().map(Vec::len).sum::<usize>();
        starting == 0 && waiting < limits.per_pack && all < limits.total
    }
}

/// The pool.
pub struct Spares {
    limits: SpareLimits,
    inner: Mutex<Inner>,
    metrics: SpareMetrics,
    /// Woken whenever a spare finishes starting (or fails to).
    landed: tokio::sync::Notify,
    /// Runs in progress now (cold or on a spare).
    active: std::sync::atomic::AtomicUsize,
    /// Refills put off because the CPU had no room for them, per pack, with the moment the
    /// first of them was put off: started when there is room, or after [`MAX_DEFER`].
    deferred: Mutex<HashMap<String, Deferred>>,
    /// Set by [`Spares::close`] (rumid stopping): no spare starts any more.
    closed: std::sync::atomic::AtomicBool,
    /// Cores of this machine.
    cores: usize,
    /// The machine's recent idle CPU.
    idle: IdleMeter,
}

/// A refill put off for want of CPU.
struct Deferred {
    docker: Docker,
    spec: ContainerSpec,
    /// When the pack's refill was first put off.
    since: Instant,
    /// The pool's generation then: a flush in between cancels it.
    generation: u64,
    /// A replacement put off by the call that claimed the pack's spare, while that call runs:
    /// it may take the last free core ([`Spares::replace_claimed`]). The refill after the call
    /// turns it into an ordinary one.
    beside: bool,
}

/// Counts a run as in progress while it lives; when it ends (or its future is dropped, as a
/// flow timeout does), a replacement it put off becomes an ordinary refill, and deferred
/// refills that now have room start.
pub struct Active {
    pool: Arc<Spares>,
    /// The pack whose spare this run claimed ([`Spares::replace_claimed`]).
    claimed: Option<String>,
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Some(pack) = self.claimed.take() {
            self.pool.claimant_ended(&pack);
        }
        self.pool.active.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.pool.start_due();
    }
}

/// Idle CPU a refill needs, in cores, measured over the last [`IDLE_WINDOW`]: starting a
/// spare costs about 180 ms of CPU (engine, shim, runtime, Python) spread over some 350 ms,
/// half a core (figures in docs/performance.md).
pub const IDLE_FOR_REFILL: f64 = 0.5;

/// How far back the idle CPU is measured: long enough to span a few calls, so that the busy
/// moment of the call that just ended does not hide the idle time around it.
pub const IDLE_WINDOW: Duration = Duration::from_secs(1);

/// How often the idle CPU is sampled and deferred refills are reconsidered.
const PACE: Duration = Duration::from_millis(100);

/// Longest a refill is put off: after that it starts even on a busy machine, so a pack that
/// is called all the time still gets a spare now and then (at most one start per pack per
/// this period, which a later call then claims instead of starting its own container).
pub const MAX_DEFER: Duration = Duration::from_secs(3);

/// The machine's idle CPU over the last [`IDLE_WINDOW`], from `/proc/stat`, sampled every
/// [`PACE`] by the pool's pacer.
struct IdleMeter {
    /// Recent samples: when, and the aggregate line's idle (with iowait) and total ticks.
    samples: Mutex<std::collections::VecDeque<(Instant, u64, u64)>>,
    /// The CPUs the aggregate line sums (its `cpuN` lines): the whole host's, which may be
    /// more than rumid may use.
    cpus: usize,
}

impl IdleMeter {
    fn new() -> Self {
        let cpus = std::fs::read_to_string("/proc/stat")
            .map(|s| {
                s.lines()
                    .filter(|l| {
                        l.strip_prefix("cpu")
                            .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
                    })
                    .count()
            })
            .unwrap_or(0);
        Self {
            samples: Mutex::default(),
            cpus: cpus.max(1),
        }
    }

    /// Idle and total ticks of all CPUs so far (the first line of `/proc/stat` only: the
    /// rest, interrupt counts among it, is large).
    fn read() -> Option<(u64, u64)> {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(std::fs::File::open("/proc/stat").ok()?)
            .read_line(&mut line)
            .ok()?;
        parse_cpu_line(&line)
    }

    fn sample(&self) {
        let Some((idle, total)) = Self::read() else { return };
        let now = Instant::now();
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        s.push_back((now, idle, total));
        while s.len() > 2 && s.get(1).is_some_and(|(t, ..)| now.duration_since(*t) >= IDLE_WINDOW) {
            s.pop_front();
        }
    }

    /// Idle cores over the window; `None` before two samples with ticks between them (or
    /// without `/proc/stat`).
    fn idle_cores(&self) -> Option<f64> {
        let s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let (first, last) = (s.front()?, s.back()?);
        let total = last.2.checked_sub(first.2).filter(|t| *t > 0)?;
        let idle = last.1.saturating_sub(first.1);
        Some(idle as f64 / total as f64 * self.cpus as f64)
    }
}

/// Idle (idle + iowait) and total ticks from the aggregate `cpu` line of `/proc/stat`.
fn parse_cpu_line(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_ascii_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest and guest_nice are already
    // counted in user and nice).
    let ticks: Vec<u64> = fields.take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
    Some((idle, ticks.iter().sum()))
}

/// Longest a call waits for a spare of its spec that is already starting, instead of
/// starting a container of its own: that spare is the sooner one (its start began earlier),
/// and a second start would only compete with it for the same CPU.
pub const WAIT_FOR_STARTING: Duration = Duration::from_secs(2);

impl Spares {
    pub fn new(limits: SpareLimits, metrics: SpareMetrics) -> Arc<Self> {
        Arc::new(Self {
            limits,
            inner: Mutex::default(),
            metrics,
            landed: tokio::sync::Notify::new(),
            active: std::sync::atomic::AtomicUsize::new(0),
            deferred: Mutex::default(),
            closed: std::sync::atomic::AtomicBool::new(false),
            cores: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            idle: IdleMeter::new(),
        })
    }

    /// Marks a run as in progress until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> Active {
        self.active.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Active {
            pool: self.clone(),
            claimed: None,
        }
    }

    pub fn limits(&self) -> SpareLimits {
        self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish_count(&self, inner: &Inner) {
        self.metrics.spares.set(inner.count() as i64);
    }

    /// Takes a waiting spare of exactly `spec`; spares of the pack with another spec or past
    /// their TTL are destroyed on the way. `Err(true)`: none waits, but one of this spec is
    /// starting and not yet promised to another call: it is now promised to this one (which
    /// must [`Spares::release`] the promise after waiting); `Err(false)`: none is coming.
    fn take(&self, spec: &ContainerSpec) -> Result<Started, bool> {
        let (found, stale, coming) = {
            let mut inner = self.lock();
            let pack = spec.pack.to_string();
            let list = inner.by_pack.entry(pack.clone()).or_default();
            let (fresh, stale): (Vec<Spare>, Vec<Spare>) = std::mem::take(list)
                .into_iter()
                .partition(|s| s.digest == spec.digest && s.born.elapsed() < self.limits.ttl);
            *list = fresh;
            let found = list.pop();
            let starting = inner
                .starting
                .get(&pack)
                .map_or(0, |d| d.iter().filter(|d| **d == spec.digest).count());
            let promised = inner.promised.get(&spec.digest).copied().unwrap_or(0);
            let coming = found.is_none() && starting > promised;
            if coming {
                *inner.promised.entry(spec.digest.clone()).or_default() += 1;
            }
            self.publish_count(&inner);
            (found, stale, coming)
        };
        drop(stale);
        found.map(|s| s.started).ok_or(coming)
    }

    fn release(&self, digest: &str) {
        let mut inner = self.lock();
        if let Some(n) = inner.promised.get_mut(digest) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                inner.promised.remove(digest);
            }
        }
    }

    /// A spare of exactly `spec`: one that waits, or one of that spec that is starting now
    /// and not promised to another call (waited for at most [`WAIT_FOR_STARTING`]). `None`:
    /// the call starts its own at once.
    pub async fn claim(&self, spec: &ContainerSpec) -> Option<Started> {
        if self.limits.per_pack == 0 {
            return None;
        }
        let deadline = tokio::time::Instant::now() + WAIT_FOR_STARTING;
        loop {
            // Registered before looking, so a spare landing in between is not missed.
            let landed = self.landed.notified();
            tokio::pin!(landed);
            landed.as_mut().enable();
            match self.take(spec) {
                Ok(started) => {
                    self.metrics.claims.inc();
                    return Some(started);
                }
                Err(true) => {
                    let woke = tokio::time::timeout_at(deadline, landed).await.is_ok();
                    self.release(&spec.digest);
                    if !woke {
                        self.metrics.misses.inc();
                        return None;
                    }
                }
                Err(false) => {
                    self.metrics.misses.inc();
                    return None;
                }
            }
        }
    }

    /// Whether a spare may start now without taking CPU the calls need: the runs going on and
    /// the spares starting leave a core free beside the new start (for the next call, which a
    /// client sends as soon as its last one ends), and the machine has had at least
    /// [`IDLE_FOR_REFILL`] of idle CPU lately (load from outside Rumi counts too). On a
    /// one-core machine there is never room: spares start only after [`MAX_DEFER`].
    fn has_room(&self) -> bool {
        self.room_beside(1)
    }

    /// Whether a spare may start now and still leave `spare` cores to runs beyond those going
    /// on, and the machine has had at least [`IDLE_FOR_REFILL`] of idle CPU lately.
    fn room_beside(&self, spare: usize) -> bool {
        self.cores_beside(spare) && self.idle.idle_cores().is_none_or(|idle| idle >= IDLE_FOR_REFILL)
    }

    /// Whether the runs going on and the spares starting leave a core to a new start and
    /// `spare` cores more (Rumi's own load only).
    fn cores_beside(&self, spare: usize) -> bool {
        let active = self.active.load(std::sync::atomic::Ordering::SeqCst);
        active + self.starting() + spare < self.cores
    }

    /// Starts the deferred refills that have waited [`MAX_DEFER`], and, when there is room,
    /// the one deferred longest (one per pass: the next pass sees the CPU it takes).
    fn start_due(self: &Arc<Self>) {
        if self.closed() {
            return;
        }
        // Judged before the map is locked: the two locks are never held together.
        if self.deferred.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
            return;
        }
        // Room for an ordinary refill, and for a replacement beside the call that claimed.
        let (room, room_beside_call) = (self.has_room(), self.room_beside(0));
        let due: Vec<Deferred> = {
            let mut deferred = self.deferred.lock().unwrap_or_else(|p| p.into_inner());
            let mut packs: Vec<(Instant, String, bool)> = deferred
                .iter()
                .map(|(pack, d)| (d.since, pack.clone(), d.beside))
                .collect();
            packs.sort();
            // Every overdue one (the oldest), or else the one deferred longest that has room
            // now: both rooms were judged before anything starts, so never both.
            let now = Instant::now();
            let overdue = packs
                .iter()
                .filter(|(since, ..)| now.duration_since(*since) >= MAX_DEFER)
                .count();
            let first_with_room = packs
                .iter()
                .position(|(_, _, beside)| if *beside { room_beside_call } else { room })
                .filter(|_| overdue == 0);
            packs
                .into_iter()
                .enumerate()
                .filter(|(i, _)| *i < overdue || Some(*i) == first_with_room)
                .filter_map(|(_, (_, pack, _))| deferred.remove(&pack))
                .collect()
        };
        for d in due {
            self.start_refill(&d.docker, &d.spec, d.generation);
        }
    }

    /// Keeps `spec`'s pack supplied with spares: starts one in the background unless one is
    /// already starting, and the next when it has landed, until the pack has its share
    /// (within the total bound). Spares use only idle capacity: while the calls (and the
    /// machine's other load) leave no room ([`Spares::has_room`]), the refill is put off
    /// until there is, or for at most [`MAX_DEFER`] (a spare started on a busy machine only
    /// competes with the calls for the CPU and makes them slower). One start at a time per
    /// pack, and a call that finds a spare starting waits for it rather than starting a
    /// second container.
    pub fn refill(self: &Arc<Self>, docker: &Docker, spec: &ContainerSpec) {
        if self.limits.per_pack == 0 || self.closed() {
            return;
        }
        let Some(generation) = self.generation_if_lacking(spec.pack.as_ref()) else {
            return;
        };
        self.start_or_defer(docker, spec, generation, self.has_room(), false);
    }

    /// The pool's generation now (a flush after it cancels a refill started under it) when
    /// `pack` may have one more spare; `None` when it has what it may have.
    fn generation_if_lacking(&self, pack: &str) -> Option<u64> {
        let inner = self.lock();
        inner.lacks_spare(pack, &self.limits).then_some(inner.generation)
    }

    /// Starts a spare of `spec` now when there is `room` for it, else puts it off (since the
    /// moment the pack's refill was first put off); `beside`: see [`Deferred::beside`].
    fn start_or_defer(
        self: &Arc<Self>,
        docker: &Docker,
        spec: &ContainerSpec,
        generation: u64,
        room: bool,
        beside: bool,
    ) {
        let pack = spec.pack.to_string();
        let mut deferred = self.deferred.lock().unwrap_or_else(|p| p.into_inner());
        if room {
            deferred.remove(&pack);
            drop(deferred);
            self.start_refill(docker, spec, generation);
            return;
        }
        let since = deferred.get(&pack).map_or_else(Instant::now, |d| d.since);
        deferred.insert(
            pack,
            Deferred {
                docker: docker.clone(),
                spec: spec.clone(),
                since,
                generation,
                beside,
            },
        );
    }

    /// Replaces a spare a call has just claimed while the call runs, when that leaves no run
    /// without a core: the call counts as running, and the start may take the last free core
    /// (a client sends its next call only after this one ends, and by then the replacement
    /// has had the call's time to come up). When the machine has not had the idle CPU for it
    /// lately, the replacement is put off and starts as soon as it has, while the call runs
    /// (or after [`MAX_DEFER`], as any refill). When the runs leave no core, nothing starts
    /// now, and the refill after the call ([`Spares::refill`]) applies the stricter rule. On a
    /// machine with two cores this starts a spare beside a call only while it is the only one.
    pub fn replace_claimed(self: &Arc<Self>, active: &mut Active, docker: &Docker, spec: &ContainerSpec) {
        active.claimed = Some(spec.pack.to_string());
        if self.limits.per_pack == 0 || self.closed() || !self.cores_beside(0) {
            return;
        }
        let Some(generation) = self.generation_if_lacking(spec.pack.as_ref()) else {
            return;
        };
        self.start_or_defer(docker, spec, generation, self.room_beside(0), true);
    }

    /// The call that claimed `pack`'s spare has ended: a replacement it put off is now an
    /// ordinary refill, which must leave a core free for the next call. Called by [`Active`]
    /// before the call stops counting as running.
    fn claimant_ended(&self, pack: &str) {
        let mut deferred = self.deferred.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = deferred.get_mut(pack) {
            d.beside = false;
        }
    }

    /// Starts one spare of `spec` now, within the pack's and the total bounds, unless the pool
    /// was flushed since `generation` (the spec may be one the flush made stale).
    fn start_refill(self: &Arc<Self>, docker: &Docker, spec: &ContainerSpec, generation: u64) {
        let pack = spec.pack.to_string();
        {
            let mut inner = self.lock();
            if inner.generation != generation || !inner.lacks_spare(&pack, &self.limits) {
                return;
            }
            inner
                .starting
                .entry(pack.clone())
                .or_default()
                .push(spec.digest.clone());
        }
        let pool = self.clone();
        let docker = docker.clone();
        let spec = spec.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let started = start(&docker, &spec).await;
            let next = {
                let mut inner = pool.lock();
                if let Some(list) = inner.starting.get_mut(&pack)
                    && let Some(i) = list.iter().position(|d| *d == spec.digest)
                {
                    list.swap_remove(i);
                }
                match started {
                    Ok(started) if inner.generation == generation => {
                        pool.metrics.start_seconds.observe(t.elapsed().as_secs_f64());
                        inner.by_pack.entry(pack.clone()).or_default().push(Spare {
                            digest: spec.digest.clone(),
                            started,
                            born: Instant::now(),
                        });
                        pool.publish_count(&inner);
                        true
                    }
                    // Flushed while starting: dropping it removes the container.
                    Ok(_) => false,
                    Err(e) => {
                        tracing::warn!(pack = %pack, error = %e, "cannot start a spare container");
                        false
                    }
                }
            };
            pool.landed.notify_waiters();
            if next {
                pool.refill(&docker, &spec);
            }
        });
    }

    /// Stops the pool for good (rumid stopping): no spare starts any more, deferred refills
    /// are dropped, and the pacer ends.
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.deferred.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Takes every spare out of the pool (the caller removes them); spares still starting
    /// are destroyed when they come up.
    pub fn take_all(&self) -> Vec<Started> {
        self.deferred.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let mut inner = self.lock();
        inner.generation += 1;
        let all: Vec<Started> = std::mem::take(&mut inner.by_pack)
            .into_values()
            .flatten()
            .map(|s| s.started)
            .collect();
        self.publish_count(&inner);
        all
    }

    /// Destroys every spare (approvals or grants changed).
    pub fn flush_all(&self) -> usize {
        // Dropping a spare removes its container.
        self.take_all().len()
    }

    /// Takes the spares of one pack out of the pool (the caller destroys them); spares of
    /// the pack still starting are destroyed when they come up.
    pub fn take_pack(&self, pack: &str) -> Vec<Started> {
        self.deferred.lock().unwrap_or_else(|p| p.into_inner()).remove(pack);
        let mut inner = self.lock();
        inner.generation += 1;
        let list = inner.by_pack.remove(pack).unwrap_or_default();
        self.publish_count(&inner);
        list.into_iter().map(|s| s.started).collect()
    }

    /// Destroys spares past their TTL.
    pub fn expire(&self) -> usize {
        let expired: Vec<Spare> = {
            let mut inner = self.lock();
            let mut out = Vec::new();
            for list in inner.by_pack.values_mut() {
                let (keep, old): (Vec<Spare>, Vec<Spare>) = std::mem::take(list)
                    .into_iter()
                    .partition(|s| s.born.elapsed() < self.limits.ttl);
                *list = keep;
                out.extend(old);
            }
            inner.by_pack.retain(|_, l| !l.is_empty());
            self.publish_count(&inner);
            out
        };
        expired.len()
    }

    /// Spares being created now.
    pub fn starting(&self) -> usize {
        self.lock().starting.values().map(Vec::len).sum()
    }

    /// Ids of the waiting spares.
    pub fn ids(&self) -> Vec<String> {
        self.lock()
            .by_pack
            .values()
            .flatten()
            .map(|s| s.started.id.clone())
            .collect()
    }

    /// Counts for the API: waiting spares, claims and misses so far.
    pub fn summary(&self) -> serde_json::Value {
        // Taken apart from the pool's lock: the two are never held together.
        let deferred = self.deferred.lock().unwrap_or_else(|p| p.into_inner()).len();
        let inner = self.lock();
        serde_json::json!({
            "per_pack": self.limits.per_pack,
            "total_limit": self.limits.total,
            "ttl_seconds": self.limits.ttl.as_secs(),
            "waiting": inner.count(),
            "starting": inner.starting.values().map(Vec::len).sum::<usize>(),
            "deferred": deferred,
            "claims": self.metrics.claims.get(),
            "misses": self.metrics.misses.get(),
        })
    }

    /// Expires spares periodically, and paces the refills: samples the idle CPU every
    /// [`PACE`] and starts deferred refills that have room (or have waited [`MAX_DEFER`]).
    pub fn spawn_expiry(self: &Arc<Self>) {
        if self.limits.per_pack == 0 {
            return;
        }
        let pool = Arc::downgrade(self);
        let period = (self.limits.ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let Some(pool) = pool.upgrade() else { break };
                let n = pool.expire();
                if n > 0 {
                    tracing::debug!(expired = n, "spare containers expired");
                }
            }
        });
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PACE);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(pool) = pool.upgrade() else { break };
                if pool.closed() {
                    break;
                }
                pool.idle.sample();
                pool.start_due();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_line_gives_idle_with_iowait_and_all_ticks() {
        let line = "cpu  4705 356 584 3699176 23060 0 277 0 12 0";
        assert_eq!(
            parse_cpu_line(line),
            Some((3_699_176 + 23_060, 4705 + 356 + 584 + 3_699_176 + 23_060 + 277))
        );
        // A per-CPU line or a short or garbled one is not the aggregate line.
        assert_eq!(parse_cpu_line("cpu0 1 2 3 4 5 6 7 8"), None);
        assert_eq!(parse_cpu_line("cpu 1 2 x 4"), None);
        assert_eq!(parse_cpu_line("intr 1 2 3"), None);
    }

    #[test]
    fn idle_cores_are_measured_over_the_window() {
        let meter = IdleMeter {
            samples: Mutex::default(),
            cpus: 2,
        };
        assert_eq!(meter.idle_cores(), None, "no figure before two samples");
        let t = Instant::now();
        {
            let mut s = meter.samples.lock().unwrap();
            s.push_back((t, 1000, 4000));
            // 100 ticks passed on 2 cores, 25 of them idle: a quarter of the machine.
            s.push_back((t + PACE, 1025, 4100));
        }
        let idle = meter.idle_cores().unwrap();
        assert!((idle - 0.5).abs() < 1e-9, "{idle}");
        // The live meter reads this machine's /proc/stat: as many CPUs as it lists, and an
        // idle figure between none and all of them.
        let live = IdleMeter::new();
        assert!(live.cpus >= 1);
        assert!(
            IdleMeter::read().is_some(),
            "the first line of /proc/stat is the cpu line"
        );
        live.sample();
        std::thread::sleep(Duration::from_millis(60));
        live.sample();
        if let Some(idle) = live.idle_cores() {
            assert!((0.0..=live.cpus as f64 + 1e-9).contains(&idle), "{idle}");
        }
    }
}
