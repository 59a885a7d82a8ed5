//! Capacity per (cluster, resource group) from the controller's size info, cached on disk
//! (atomic write, TTL); a stale value is served when no controller answers.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::Storage;
use crate::api::QuerySizeInfoRequest;
use crate::error::{Error, Result};
use crate::naming;

/// How a datastore's size is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CapacityArithmetic {
    /// The controller's `query-size-info` of the group: what the next volume can get, with
    /// replication, thin pools and placement taken into account (this suite's answer).
    #[default]
    SizeInfo,
    /// LINBIT `addon-linstor`: the group's storage pools summed and divided by its place count.
    PoolSumPerReplica,
    /// `addon-linstor_un`: the group's storage pools summed (raw, every replica counted).
    PoolSum,
}

/// Space of a resource group, replication-aware, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    /// Usable capacity.
    pub total_kib: u64,
    /// Usable free space.
    pub free_kib: u64,
    /// Largest volume that can be created now.
    pub max_volume_kib: u64,
    /// When the controller was asked (seconds since the epoch).
    pub fetched_at: u64,
    /// True when served from an expired cache because no controller answered.
    #[serde(skip)]
    pub stale: bool,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Storage {
    fn capacity_file(&self, rg: &str) -> Option<PathBuf> {
        let dir = self.cfg.cache_dir.as_ref()?;
        let cluster = crate::naming::fnv1a_64(self.client.controllers().join(",").as_bytes());
        Some(dir.join(format!("capacity-{cluster:016x}-{rg}.json")))
    }

    /// The cached capacity of a group, whatever its age; never touches the network.
    pub fn cached_capacity(&self, rg: Option<&str>) -> Option<Capacity> {
        let rg = rg.unwrap_or(&self.cfg.resource_group);
        let file = self.capacity_file(rg)?;
        let text = std::fs::read(&file).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn store_capacity(&self, rg: &str, cap: &Capacity) -> Result<()> {
        let Some(file) = self.capacity_file(rg) else {
            return Ok(());
        };
        let err = |e: std::io::Error| Error::State {
            path: file.clone(),
            source: e.into(),
        };
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        let body = serde_json::to_vec(cap).map_err(|e| Error::State {
            path: file.clone(),
            source: e.into(),
        })?;
        std::fs::write(&tmp, body).map_err(err)?;
        std::fs::rename(&tmp, &file).map_err(err)
    }

    /// Capacity of a resource group: from the cache when younger than `ttl` (no request),
    /// else one size-info query; when no controller answers, the stale cache is returned.
    #[instrument(skip(self))]
    pub async fn capacity(&self, rg: Option<&str>, ttl: Duration) -> Result<Capacity> {
        let rg = rg.unwrap_or(&self.cfg.resource_group).to_string();
        naming::validate_resource_group_name(&rg)?;
        let cached = self.cached_capacity(Some(&rg));
        if let Some(c) = cached {
            if now_secs().saturating_sub(c.fetched_at) < ttl.as_secs() {
                return Ok(c);
            }
        }
        match self.query_capacity(&rg).await {
            Ok(c) => {
                if let Err(e) = self.store_capacity(&rg, &c) {
                    tracing::warn!(error = %e, "capacity cache not written");
                }
                Ok(c)
            }
            Err(e) if e.is_controller_unreachable() => match cached {
                Some(c) => Ok(Capacity { stale: true, ..c }),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn query_capacity(&self, rg: &str) -> Result<Capacity> {
        let resp = self
            .client
            .query_size_info(rg, &QuerySizeInfoRequest::default())
            .await?;
        let Some(space) = resp.space_info else {
            return Err(Error::Api {
                request: format!("size info of resource group '{rg}'"),
                status: 200,
                reports: resp.reports,
            });
        };
        let kib = |v: Option<i64>| v.unwrap_or(0).max(0) as u64;
        Ok(Capacity {
            total_kib: kib(space.capacity_in_kib),
            free_kib: kib(space.available_size_in_kib),
            max_volume_kib: space.max_vlm_size_in_kib.max(0) as u64,
            fetched_at: now_secs(),
            stale: false,
        })
    }

    /// Capacity of a group by a peer driver's arithmetic (two requests: the group, the storage
    /// pools): the sum over its storage pools (those of its filter, all when it names none;
    /// only its nodes when it names some; diskless pools left out), and for
    /// [`CapacityArithmetic::PoolSumPerReplica`] divided by its place count (2 when unset, as
    /// LINSTOR places). [`CapacityArithmetic::SizeInfo`] is [`Storage::capacity`].
    #[instrument(skip(self))]
    pub async fn capacity_by(
        &self,
        rg: Option<&str>,
        how: CapacityArithmetic,
        ttl: Duration,
    ) -> Result<Capacity> {
        let per_replica = match how {
            CapacityArithmetic::SizeInfo => return self.capacity(rg, ttl).await,
            CapacityArithmetic::PoolSumPerReplica => true,
            CapacityArithmetic::PoolSum => false,
        };
        let rg = rg.unwrap_or(&self.cfg.resource_group).to_string();
        naming::validate_resource_group_name(&rg)?;
        let group = self
            .client
            .resource_group(&rg)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: format!("resource group '{rg}'"),
                reports: Vec::new(),
            })?;
        let filter = group.select_filter.unwrap_or_default();
        let mut names = filter.storage_pool_list.clone();
        names.extend(filter.storage_pool.clone());
        let nodes: Vec<&str> = filter.node_name_list.iter().map(String::as_str).collect();
        let pools = self.client.storage_pools(&nodes, false).await?;
        let (mut total, mut free) = (0u64, 0u64);
        for p in pools.iter().filter(|p| {
            !p.is_diskless()
                && (names.is_empty()
                    || names
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(&p.storage_pool_name)))
        }) {
            total = total.saturating_add(p.total_capacity.unwrap_or(0).max(0) as u64);
            free = free.saturating_add(p.free_capacity.unwrap_or(0).max(0) as u64);
        }
        let divisor = if per_replica {
            filter.place_count.filter(|n| *n > 0).unwrap_or(2) as u64
        } else {
            1
        };
        Ok(Capacity {
            total_kib: total / divisor,
            free_kib: free / divisor,
            max_volume_kib: free / divisor,
            fetched_at: now_secs(),
            stale: false,
        })
    }
}
