//! Checks the cluster against an adoption [`Plan`] and performs its calls through the typed
//! client. Nothing is removed on failure: deleting a half-adopted resource would delete the
//! existing backing volumes.

use tracing::Instrument as _;

use super::carry::AddressProblem;
use super::plan::{Call, Plan};
use super::AdoptError;
use linstor_common::client::Replies;
use linstor_common::Client;

/// A reason the cluster is not ready for the adoption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// LINSTOR already has a resource definition of that name.
    Exists(String),
    /// The node is not a LINSTOR node.
    UnknownNode(String),
    /// Another resource definition already uses the minor (the resource was adopted under
    /// another name, or the minor is taken).
    MinorTaken {
        /// Minor.
        minor: u32,
        /// The definition using it.
        rd: String,
    },
    /// The resource group does not exist.
    UnknownResourceGroup(String),
    /// The node has no storage pool of that name.
    UnknownPool {
        /// Node.
        node: String,
        /// Pool.
        pool: String,
    },
    /// The peers use an address LINSTOR does not have as an interface of the node.
    Address(AddressProblem),
    /// Settings of the configuration adopt cannot carry, not accepted with `--drop` (ids).
    NotCarried(Vec<String>),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Exists(n) => write!(
                f,
                "resource definition '{n}' already exists in LINSTOR (already adopted? check `linstor resource list -r {n}`; or adopt under another name with --name)"
            ),
            Problem::UnknownNode(n) => write!(
                f,
                "node '{n}' is not a LINSTOR node (add it with `linstor node create {n} <ip>`, or map a floating host with --floating-node)"
            ),
            Problem::MinorTaken { minor, rd } => write!(
                f,
                "minor {minor} is already used by resource definition '{rd}' (is this resource already adopted as '{rd}'? check `linstor volume list -r {rd}`)"
            ),
            Problem::UnknownResourceGroup(g) => write!(
                f,
                "resource group '{g}' does not exist (create it with `linstor resource-group create {g}` or name an existing one)"
            ),
            Problem::UnknownPool { node, pool } => write!(
                f,
                "node '{node}' has no storage pool '{pool}' (create it on the volume group holding the backing volume, or choose the pool with --storage-pool / --node-pool {node}=POOL)"
            ),
            Problem::Address(a) => a.fmt(f),
            Problem::NotCarried(ids) => write!(
                f,
                "{} setting(s) of the configuration would not be carried ({}); LINSTOR would run the resource without them. Change the configuration first, or accept the change with {}",
                ids.len(),
                ids.join(", "),
                ids.iter().map(|i| format!("--drop {i}")).collect::<Vec<_>>().join(" ")
            ),
        }
    }
}

/// Everything that would make the plan fail or change how the resource runs: existing resource
/// definition, a minor already in use (e.g. adopted before under another name), unknown
/// resource group, nodes or storage pools, addresses that are not interfaces of their node,
/// settings not carried and not accepted with `--drop`. Read-only.
pub async fn preflight(client: &Client, plan: &Plan) -> Result<Vec<Problem>, AdoptError> {
    let mut problems: Vec<Problem> = plan
        .address_problems
        .iter()
        .cloned()
        .map(Problem::Address)
        .collect();
    let lost: Vec<String> = plan
        .unaccepted_losses()
        .iter()
        .map(|s| s.id.clone())
        .collect();
    if !lost.is_empty() {
        problems.push(Problem::NotCarried(lost));
    }
    for rd in client.resource_definitions(&[]).await? {
        if rd.name.eq_ignore_ascii_case(&plan.name) {
            problems.push(Problem::Exists(rd.name.clone()));
        }
        for vd in &rd.volume_definitions {
            let Some(minor) = vd.drbd_minor() else {
                continue;
            };
            if let Some(m) = plan.minors.values().find(|m| i64::from(**m) == minor) {
                problems.push(Problem::MinorTaken {
                    minor: *m,
                    rd: rd.name.clone(),
                });
            }
        }
    }
    if let Some(rg) = plan.resource_group.as_deref() {
        if client.resource_group(rg).await?.is_none() {
            problems.push(Problem::UnknownResourceGroup(rg.to_string()));
        }
    }
    let nodes = client.nodes().await?;
    let known = |n: &str| nodes.iter().any(|k| k.name.eq_ignore_ascii_case(n));
    let mut present = Vec::new();
    for n in &plan.nodes {
        if known(&n.node) {
            present.push(n.node.as_str());
        } else {
            problems.push(Problem::UnknownNode(n.node.clone()));
        }
    }
    if !present.is_empty() {
        let pools = client.storage_pools(&present, false).await?;
        for n in plan.nodes.iter().filter(|n| known(&n.node)) {
            let Some(pool) = &n.pool else { continue };
            let found = pools.iter().any(|p| {
                p.node_name.eq_ignore_ascii_case(&n.node)
                    && p.storage_pool_name.eq_ignore_ascii_case(pool)
            });
            if !found {
                problems.push(Problem::UnknownPool {
                    node: n.node.clone(),
                    pool: pool.clone(),
                });
            }
        }
    }
    Ok(problems)
}

async fn perform(client: &Client, call: &Call) -> linstor_common::Result<Replies> {
    match call {
        Call::CreateResourceDefinition(b) => client.resource_definition_create(b).await,
        Call::ModifyResourceDefinition { rd, body } => {
            client.resource_definition_modify(rd, body).await
        }
        Call::CreateVolumeDefinition { rd, body } => {
            client.volume_definition_create(rd, body).await
        }
        Call::ModifyVolumeDefinition { rd, nr, body } => {
            client.volume_definition_modify(rd, *nr, body).await
        }
        Call::CreateResource { rd, node, body } => client.resource_create(rd, node, body).await,
        Call::CreateNetInterface { node, body } => client.net_interface_create(node, body).await,
        Call::ModifyResourceConnection { rd, a, b, body } => {
            client.resource_connection_modify(rd, a, b, body).await
        }
    }
}

/// Runs [`preflight`], refuses with every problem found, then performs the calls in order and
/// reports each one to `progress` (step index, from 0) as it succeeds. Stops at the first
/// failure; the error says how many steps were done.
pub async fn apply(
    client: &Client,
    plan: &Plan,
    mut progress: impl FnMut(usize, &Replies),
) -> Result<(), AdoptError> {
    let span = tracing::info_span!("adopt", volume = %plan.name);
    apply_steps(client, plan, &mut progress)
        .instrument(span)
        .await
}

async fn apply_steps(
    client: &Client,
    plan: &Plan,
    progress: &mut impl FnMut(usize, &Replies),
) -> Result<(), AdoptError> {
    let problems = preflight(client, plan).await?;
    if !problems.is_empty() {
        return Err(AdoptError::Refused(problems));
    }
    for (i, step) in plan.steps.iter().enumerate() {
        tracing::info!(step = i + 1, call = %step.call, "adopt step");
        match perform(client, &step.call).await {
            Ok(r) => progress(i, &r),
            Err(source) => {
                return Err(AdoptError::StepFailed {
                    step: i + 1,
                    total: plan.steps.len(),
                    name: plan.name.clone(),
                    source,
                })
            }
        }
    }
    Ok(())
}
