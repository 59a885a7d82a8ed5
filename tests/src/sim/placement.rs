//! Placement rules as pure functions over the model: which nodes the autoplacer may pick,
//! in which order, and how much space a resource group can still spawn.

use crate::sim::core::key;
use crate::sim::model::*;

/// Nodes the autoplacer could pick for `rk`, best (most free space) first.
pub fn candidates(
    st: &State,
    pool_name: &str,
    pool_kib: u64,
    rk: &str,
    f: &SelectFilter,
    need_kib: u64,
) -> Vec<String> {
    let Some(rd) = st.rds.get(rk) else {
        return vec![];
    };
    if let Some(pools) = f.pools() {
        if !pools.iter().any(|p| p.eq_ignore_ascii_case(pool_name)) {
            return vec![];
        }
    }
    if let Some(pl) = &f.provider_list {
        if !pl.is_empty() && !pl.iter().any(|p| p.eq_ignore_ascii_case("FILE_THIN")) {
            return vec![];
        }
    }
    let avoid: Vec<String> = f
        .not_place_with_rsc
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|n| key(n))
        .collect();
    let re = f
        .not_place_with_rsc_regex
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| {
            regex::RegexBuilder::new(s)
                .case_insensitive(true)
                .build()
                .ok()
        });
    let mut c: Vec<(u64, String)> = st
        .nodes
        .iter()
        .filter(|(k, n)| {
            n.online
                && rd.rscs.get(*k).is_none_or(|r| r.is_tiebreaker())
                && f.node_name_list
                    .as_ref()
                    .is_none_or(|l| l.is_empty() || l.iter().any(|x| key(x) == **k))
                && !st.rds.iter().any(|(ok, ord)| {
                    ord.rscs.get(*k).is_some_and(|r| !r.is_diskless())
                        && (avoid.contains(ok)
                            || re.as_ref().is_some_and(|re| re.is_match(&ord.name)))
                })
                && pool_free(st, pool_kib, k) >= need_kib
        })
        .map(|(k, _)| (pool_free(st, pool_kib, k), k.clone()))
        .collect();
    c.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    c.into_iter().map(|(_, k)| k).collect()
}

/// Picks `n` nodes honouring replicas_on_same / replicas_on_different.
pub fn pick_nodes(
    st: &State,
    rk: &str,
    f: &SelectFilter,
    cands: &[String],
    n: usize,
) -> Option<Vec<String>> {
    let rd = st.rds.get(rk)?;
    let mut chosen: Vec<String> = rd
        .rscs
        .iter()
        .filter(|(_, r)| !r.is_diskless())
        .map(|(k, _)| k.clone())
        .collect();
    let existing = chosen.len();
    let same = f.replicas_on_same.clone().unwrap_or_default();
    let diff = f.replicas_on_different.clone().unwrap_or_default();
    let prop = |nk: &str, k: &str| st.nodes.get(nk).and_then(|n| n.props.get(k).cloned());
    for c in cands {
        if chosen.len() - existing >= n {
            break;
        }
        let ok_same = same.iter().all(|k| {
            let (k, want) = match k.split_once('=') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (k.clone(), None),
            };
            let v = prop(c, &k);
            v.is_some()
                && want.as_ref().is_none_or(|w| v.as_ref() == Some(w))
                && chosen.iter().all(|o| prop(o, &k) == v)
        });
        let ok_diff = diff.iter().all(|k| {
            let v = prop(c, k);
            v.is_none() || chosen.iter().all(|o| prop(o, k) != v)
        });
        if ok_same && ok_diff {
            chosen.push(c.clone());
        }
    }
    (chosen.len() - existing >= n).then(|| chosen[existing..].to_vec())
}

/// KiB that diskful replicas of all definitions use on the node's pool.
pub fn pool_used(st: &State, node_key: &str) -> u64 {
    st.rds
        .values()
        .filter_map(|rd| {
            rd.rscs
                .get(node_key)
                .filter(|r| !r.is_diskless())
                .map(|_| rd.vds.values().map(|v| v.size_kib).sum::<u64>())
        })
        .sum()
}

/// KiB still free on the node's pool of `pool_kib`.
pub fn pool_free(st: &State, pool_kib: u64, node_key: &str) -> u64 {
    pool_kib.saturating_sub(pool_used(st, node_key))
}

pub fn greedy_fill(mut pools: Vec<u64>, place: usize) -> u64 {
    if place == 0 {
        return 0;
    }
    let mut total = 0;
    loop {
        pools.retain(|p| *p > 0);
        if pools.len() < place {
            return total;
        }
        pools.sort_unstable_by(|a, b| b.cmp(a));
        let m = pools[place - 1];
        total += m;
        for p in pools.iter_mut().take(place) {
            *p -= m;
        }
    }
}
