//! The volume list cache (`State::known`): what `List` answers from, refreshed from the
//! controller at most every `list_cache_ttl`, kept consistent with this daemon's own calls.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use linstor_common::error::chain;
use linstor_common::naming::docker;
use linstor_common::volume::{bounded, DATA_PLANE_BUDGET};
use linstor_common::Error;
use tracing::{instrument, warn};

use super::{controller_outage, lock, Driver, Failure};
use crate::protocol::{Response, Volume};
use crate::state::KnownVolume;

/// When the volume cache (`State::known`) was last listed from the controller, and what this
/// daemon's own calls changed while a listing was in flight.
#[derive(Debug, Default)]
pub(super) struct ListCache {
    fetched: Option<Instant>,
    refreshing: bool,
    changes: Vec<(String, Option<KnownVolume>)>,
}

impl ListCache {
    fn note(&mut self, name: &str, known: Option<&KnownVolume>) {
        if self.refreshing {
            self.changes.push((name.to_string(), known.cloned()));
        }
    }
}

/// A refresh whose listing was given up (the caller's budget ran out) ends without replacing
/// the cache, so this daemon's own calls apply directly again.
struct Unfinished<'a> {
    driver: &'a Driver,
    started: Instant,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        self.driver.finish_refresh(self.started, None);
    }
}

impl Driver {
    pub(super) fn remember(&self, name: &str, mut known: KnownVolume) {
        let mut st = lock(&self.state);
        if known.created_at.is_none() {
            if let Some(old) = st.known.get(name).filter(|o| o.rd == known.rd) {
                known.created_at.clone_from(&old.created_at);
            }
        }
        lock(&self.cache).note(name, Some(&known));
        if st.known.get(name) != Some(&known) {
            st.known.insert(name.to_string(), known);
            if let Err(e) = self.store.save(&st) {
                warn!(error = %chain(&e), "cannot persist the volume cache");
            }
        }
    }

    pub(super) fn forget(&self, name: &str) -> Result<(), Failure> {
        let mut st = lock(&self.state);
        lock(&self.cache).note(name, None);
        if st.known.remove(name).is_some() {
            self.save(&st)?;
        }
        Ok(())
    }

    /// Start a refresh of the volume cache; `None` when another finished within `max_age`.
    pub(super) fn begin_refresh(&self, max_age: Option<Duration>) -> Option<Instant> {
        let mut c = lock(&self.cache);
        if let (Some(age), Some(at)) = (max_age, c.fetched) {
            if at.elapsed() <= age {
                return None;
            }
        }
        c.refreshing = true;
        c.changes.clear();
        Some(Instant::now())
    }

    /// Replace the volume cache by a listing started at `started` (Docker name, RD, creation
    /// time), keeping what this daemon's own calls changed while it was being fetched.
    pub(super) fn finish_refresh(
        &self,
        started: Instant,
        listing: Option<Vec<(String, KnownVolume)>>,
    ) {
        let mut st = lock(&self.state);
        let mut c = lock(&self.cache);
        c.refreshing = false;
        let changes = std::mem::take(&mut c.changes);
        let Some(listing) = listing else {
            return;
        };
        let mut known = BTreeMap::new();
        for (name, mut k) in listing {
            if k.created_at.is_none() {
                if let Some(old) = st.known.get(&name).filter(|o| o.rd == k.rd) {
                    k.created_at.clone_from(&old.created_at);
                }
            }
            known.insert(name, k);
        }
        for (name, k) in changes {
            match k {
                Some(k) => known.insert(name, k),
                None => known.remove(&name),
            };
        }
        c.fetched = Some(started);
        if known != st.known {
            st.known = known;
            if let Err(e) = self.store.save(&st) {
                warn!(error = %chain(&e), "cannot persist the volume cache");
            }
        }
    }

    /// Fetch the definitions of ours into the volume cache (one request) unless a refresh
    /// finished within `max_age`. Refreshes run one at a time.
    pub async fn refresh_volumes(&self, max_age: Option<Duration>) -> Result<(), Error> {
        let _g = self.refresh_lock.lock().await;
        let Some(started) = self.begin_refresh(max_age) else {
            return Ok(());
        };
        let unfinished = Unfinished {
            driver: self,
            started,
        };
        let listed = self.storage.docker_definitions().await;
        std::mem::forget(unfinished);
        match listed {
            Ok(defs) => {
                let listing = defs
                    .into_iter()
                    .map(|d| {
                        let name = docker::docker_name(&d.name, &d.props).to_string();
                        (
                            name,
                            KnownVolume {
                                rd: d.name,
                                created_at: None,
                            },
                        )
                    })
                    .collect();
                self.finish_refresh(started, Some(listing));
                Ok(())
            }
            Err(e) => {
                self.finish_refresh(started, None);
                Err(e)
            }
        }
    }

    #[instrument(skip(self))]
    pub(super) async fn list(&self) -> Result<Response, Failure> {
        let ttl = self.cfg.list_cache_ttl;
        let fresh = !ttl.is_zero()
            && lock(&self.cache)
                .fetched
                .is_some_and(|t| t.elapsed() <= ttl);
        if !fresh {
            let max_age = (!ttl.is_zero()).then_some(ttl);
            match bounded(self.refresh_volumes(max_age)).await {
                Some(Ok(())) => {}
                Some(Err(e)) if controller_outage(&e) => {
                    warn!(error = %chain(&e), "controller unreachable; listing from the local cache");
                }
                Some(Err(e)) => return Err(e.into()),
                None => {
                    warn!(
                        budget_ms = DATA_PLANE_BUDGET.as_millis() as u64,
                        "no controller answered within the budget; listing from the local cache"
                    );
                }
            }
        }
        let st = lock(&self.state);
        let vols = st
            .known
            .keys()
            .map(|name| Volume {
                mountpoint: st
                    .mounts
                    .get(name)
                    .filter(|e| e.total() > 0)
                    .map(|e| Self::data_dir(&e.target).display().to_string())
                    .unwrap_or_default(),
                name: name.clone(),
                created_at: None,
                status: None,
            })
            .collect();
        Ok(Response::Volumes(vols))
    }
}
