//! Capacity per (cluster, resource group) from the controller's size info, cached on disk
//! (atomic write, TTL); a stale value is served when no controller answers. A controller
//! without size info (HTTP 501) or answering something else gets the storage-pool view the
//! peer drivers use; an unknown capacity is an error, never zero.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::Storage;
use crate::api::{ApiCallRc, AutoSelectFilter, QuerySizeInfoRequest, SpaceInfo, StoragePool};
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
        let body = serde_json::to_vec(cap).map_err(|e| Error::State {
            path: file.clone(),
            source: e.into(),
        })?;
        crate::persist::write_cache(file.clone(), body).map_err(|e| Error::State {
            path: file,
            source: e.into(),
        })
    }

    /// Capacity of a resource group: from the cache when younger than `ttl` (no request),
    /// else one size-info query; when no controller answers (within
    /// [`super::DATA_PLANE_BUDGET`] when a cached value exists), the stale cache is returned.
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
        let fetched = match cached {
            Some(_) => super::bounded(self.query_capacity(&rg))
                .await
                .unwrap_or_else(|| {
                    Err(Error::Timeout {
                        tried: self.client.controllers(),
                        seconds: super::DATA_PLANE_BUDGET.as_secs_f64(),
                        may_have_been_carried_out: false,
                    })
                }),
            None => self.query_capacity(&rg).await,
        };
        match fetched {
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
        let resp = match self
            .client
            .query_size_info(rg, &QuerySizeInfoRequest::default())
            .await
        {
            Ok(r) => r,
            Err(e @ (Error::Api { status: 501, .. } | Error::Protocol { .. }))
                if !matches!(e, Error::Protocol { status: 0, .. }) =>
            {
                tracing::warn!(error = %e, "no size info from the controller; adding up the storage pools");
                return self.pool_capacity(rg).await;
            }
            Err(e) => return Err(e),
        };
        let kib = |v: i64| v.max(0) as u64;
        match resp.space_info {
            Some(SpaceInfo {
                capacity_in_kib: Some(total),
                available_size_in_kib: Some(free),
                max_vlm_size_in_kib,
            }) => Ok(Capacity {
                total_kib: kib(total),
                free_kib: kib(free),
                max_volume_kib: kib(max_vlm_size_in_kib),
                fetched_at: now_secs(),
                stale: false,
            }),
            _ if resp.reports.iter().any(ApiCallRc::is_error) => Err(Error::Api {
                request: format!("size info of resource group '{rg}'"),
                status: 200,
                reports: resp.reports,
            }),
            _ => {
                tracing::warn!(
                    "the size info answer holds no capacity; adding up the storage pools"
                );
                self.pool_capacity(rg).await
            }
        }
    }

    /// A resource group's placement filter and the storage pools it names (both its list and
    /// its single pool); `NotFound` when the group does not exist.
    async fn group_filter(&self, rg: &str) -> Result<(AutoSelectFilter, Vec<String>)> {
        let group = self
            .client
            .resource_group(rg)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: format!("resource group '{rg}'"),
                reports: Vec::new(),
            })?;
        let filter = group.select_filter.unwrap_or_default();
        let mut pools = filter.storage_pool_list.clone();
        pools.extend(filter.storage_pool.clone());
        Ok((filter, pools))
    }

    /// The storage-pool view: the diskful pools the group places on (all when it names
    /// none), their sums divided by the group's replica count.
    async fn pool_capacity(&self, rg: &str) -> Result<Capacity> {
        let (filter, named) = self.group_filter(rg).await?;
        let replicas = filter.place_count.filter(|n| *n > 0).unwrap_or(2) as u64;
        let pools: Vec<StoragePool> = self
            .client
            .storage_pools(&[], true)
            .await?
            .into_iter()
            .filter(|p| !p.is_diskless())
            .filter(|p| named.is_empty() || named.contains(&p.storage_pool_name))
            .filter(|p| p.total_capacity.is_some() && p.free_capacity.is_some())
            .collect();
        if pools.is_empty() {
            return Err(Error::Unsupported(format!(
                "the capacity of resource group '{rg}' is unknown: the controller gives no size info and no storage pool it places on reports its capacity"
            )));
        }
        let kib = |v: Option<i64>| v.unwrap_or(0).max(0) as u64;
        let total: u64 = pools.iter().map(|p| kib(p.total_capacity)).sum();
        let free: u64 = pools.iter().map(|p| kib(p.free_capacity)).sum();
        let largest = pools
            .iter()
            .map(|p| kib(p.free_capacity))
            .max()
            .unwrap_or(0);
        Ok(Capacity {
            total_kib: total / replicas,
            free_kib: free / replicas,
            max_volume_kib: largest,
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
        let (filter, names) = self.group_filter(&rg).await?;
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
