//! Per-pack shares of a limited resource: flow slots, running containers.
//!
//! A count of slots for everyone, and for each pack a share of it, taken together: a run of
//! pack `p` holds one slot of the total and one of `p`'s share. One pack's schedules (ten
//! flows whose blocks each sleep for minutes) can then hold at most its share, never every
//! slot, and every other pack and the operator keep the rest. The operator's own flows take
//! only the total. A share is at most one less than the total, so even a share configured as
//! large as the total leaves one slot to the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rumi_common::ids::PackId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Slots for everyone and a share per pack.
#[derive(Debug)]
pub struct Shares {
    total: Arc<Semaphore>,
    size: usize,
    per_pack: usize,
    /// One semaphore per pack that ever took a slot (approved packs only: callers check
    /// approval first).
    packs: Mutex<HashMap<PackId, Arc<Semaphore>>>,
}

/// Which limit a refused take met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Every slot is taken.
    Total,
    /// The pack's share is taken.
    Pack,
}

/// A slot held until dropped.
#[derive(Debug)]
pub struct Held {
    _pack: Option<OwnedSemaphorePermit>,
    _total: OwnedSemaphorePermit,
}

// === impl Shares ===

impl Shares {
    /// `total` slots (at least 1); each pack may hold `per_pack` of them, but never all of
    /// them while there are two or more.
    pub fn new(total: usize, per_pack: usize) -> Self {
        let total = total.max(1);
        Self {
            total: Arc::new(Semaphore::new(total)),
            size: total,
            per_pack: effective_share(total, per_pack),
            packs: Mutex::new(HashMap::new()),
        }
    }

    /// What one pack may hold.
    pub fn per_pack(&self) -> usize {
        self.per_pack
    }

    /// Slots for everyone.
    pub fn total(&self) -> usize {
        self.size
    }

    fn share(&self, pack: &PackId) -> Arc<Semaphore> {
        self.packs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(pack.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_pack)))
            .clone()
    }

    /// A slot now, or which limit refused it. `pack` is `None` for the operator's flows.
    ///
    /// # Errors
    /// [`Full`].
    pub fn try_take(&self, pack: Option<&PackId>) -> Result<Held, Full> {
        let pack = pack
            .map(|p| self.share(p).try_acquire_owned().map_err(|_| Full::Pack))
            .transpose()?;
        let total = self.total.clone().try_acquire_owned().map_err(|_| Full::Total)?;
        Ok(Held {
            _pack: pack,
            _total: total,
        })
    }

    /// A slot, waiting for one (first of the pack's share, then of the total: a pack's
    /// waiters queue behind its own runs, and at most its share of them waits for the
    /// total). Wrap it in a timeout.
    pub async fn take(&self, pack: Option<&PackId>) -> Held {
        let pack = match pack {
            Some(p) => self.share(p).acquire_owned().await.ok(),
            None => None,
        };
        // The semaphores are never closed, so acquiring only ends with a permit.
        let total = self
            .total
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        Held {
            _pack: pack,
            _total: total,
        }
    }

    /// Slots `pack` holds now.
    pub fn held_by(&self, pack: &PackId) -> usize {
        self.packs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(pack)
            .map_or(0, |s| self.per_pack - s.available_permits())
    }

    /// Slots held now, by everyone.
    pub fn held(&self) -> usize {
        self.size - self.total.available_permits()
    }
}

/// A pack's share: as configured, but at most `total - 1` while `total` is 2 or more.
pub fn effective_share(total: usize, per_pack: usize) -> usize {
    per_pack.clamp(1, total.saturating_sub(1).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(id: &str) -> PackId {
        PackId::parse(id).unwrap()
    }

    #[test]
    fn one_pack_holds_at_most_its_share_and_others_keep_the_rest() {
        let shares = Shares::new(10, 4);
        let evil = pack("evil");
        let held: Vec<Held> = (0..4).map(|_| shares.try_take(Some(&evil)).unwrap()).collect();
        assert_eq!(shares.try_take(Some(&evil)).unwrap_err(), Full::Pack);
        assert_eq!(shares.held_by(&evil), 4);
        let good = shares.try_take(Some(&pack("good"))).unwrap();
        let operator: Vec<Held> = (0..5).map(|_| shares.try_take(None).unwrap()).collect();
        assert_eq!(shares.held(), 10);
        assert_eq!(shares.try_take(None).unwrap_err(), Full::Total);
        assert_eq!(shares.try_take(Some(&pack("other"))).unwrap_err(), Full::Total);
        // A slot given back is free again, for its pack too.
        drop(held);
        assert_eq!(shares.held_by(&evil), 0);
        assert!(shares.try_take(Some(&evil)).is_ok());
        drop((good, operator));
        assert_eq!(shares.held(), 0);
    }

    #[test]
    fn a_share_never_covers_every_slot() {
        assert_eq!(effective_share(10, 4), 4);
        assert_eq!(effective_share(10, 10), 9);
        assert_eq!(effective_share(10, 50), 9);
        assert_eq!(effective_share(2, 2), 1);
        assert_eq!(effective_share(1, 4), 1, "one slot: there is nothing to share");
        assert_eq!(effective_share(10, 0), 1);
        let shares = Shares::new(3, 3);
        let p = pack("p");
        let _a = shares.try_take(Some(&p)).unwrap();
        let _b = shares.try_take(Some(&p)).unwrap();
        assert_eq!(shares.try_take(Some(&p)).unwrap_err(), Full::Pack);
        assert!(shares.try_take(None).is_ok());
    }

    #[tokio::test]
    async fn a_waiting_take_gets_the_next_free_slot() {
        let shares = Arc::new(Shares::new(4, 2));
        let p = pack("p");
        let first = shares.try_take(Some(&p)).unwrap();
        let _second = shares.try_take(Some(&p)).unwrap();
        let waiting = {
            let (shares, p) = (shares.clone(), p.clone());
            tokio::spawn(async move { shares.take(Some(&p)).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert!(
            shares.try_take(Some(&pack("q"))).is_ok(),
            "others are not queued behind it"
        );
        drop(first);
        let third = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(shares.held_by(&p), 2);
        drop(third);
    }
}
