//! Node network interfaces (`/v1/nodes/{node}/net-interfaces`).

use serde_json::{json, Value};

use crate::sim::core::*;
use crate::sim::model::*;
use crate::sim::rc::*;

/// `NetInterfaceName`: 2 to 32 characters, letters, digits, `_` and `-`, starting with a letter.
fn valid_netif_name(n: &str) -> bool {
    let b = n.as_bytes();
    (2..=32).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

fn check_addr(a: &str) -> Result<String, Fail> {
    a.trim()
        .parse::<std::net::IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| {
            Box::new(
                Entry::new(
                    FAIL_INVLD_NET_ADDR,
                    format!("The specified IP address '{a}' is not valid."),
                )
                .correction("Specify a valid IPv4 or IPv6 address."),
            )
        })
}

fn check_port(p: Option<i64>) -> Result<Option<u32>, Fail> {
    match p {
        None => Ok(None),
        Some(p) if (1..=65535).contains(&p) => Ok(Some(p as u32)),
        Some(p) => Err(Box::new(Entry::new(
            FAIL_INVLD_NET_PORT,
            format!("The given port '{p}' is invalid. Valid range: 1 - 65535"),
        ))),
    }
}

fn check_enc(e: Option<&str>) -> Result<Option<String>, Fail> {
    match e {
        None => Ok(None),
        Some(e) if e.eq_ignore_ascii_case("PLAIN") || e.eq_ignore_ascii_case("SSL") => {
            Ok(Some(e.to_ascii_uppercase()))
        }
        Some(e) => Err(Box::new(Entry::new(
            FAIL_INVLD_NET_TYPE,
            format!("The given encryption type '{e}' is invalid. Valid types: PLAIN, SSL"),
        ))),
    }
}

impl Core {
    pub(crate) fn netif_json(&self, n: &NodeSt, i: &NetIfSt) -> Value {
        let mut v = json!({
            "name": i.name,
            "address": i.address,
            "uuid": i.uuid,
        });
        if let Some(p) = i.satellite_port {
            v["satellite_port"] = json!(p);
            v["satellite_encryption_type"] =
                json!(i.satellite_encryption_type.as_deref().unwrap_or("PLAIN"));
            v["is_active"] = json!(key(&i.name) == key(&Self::active_netif(n)));
        }
        v
    }

    /// Name of the interface that carries the satellite connection.
    pub(crate) fn active_netif(n: &NodeSt) -> String {
        n.props
            .get("CurStltConnName")
            .cloned()
            .unwrap_or_else(|| "default".into())
    }

    pub(crate) fn netif_list(&self, node: &str) -> Result<Value, Fail> {
        let n = self.node_ref(node)?;
        Ok(Value::Array(
            n.net_ifs.values().map(|i| self.netif_json(n, i)).collect(),
        ))
    }

    fn netif_ref<'a>(&self, n: &'a NodeSt, name: &str) -> Result<&'a NetIfSt, Fail> {
        n.net_ifs.get(&key(name)).ok_or_else(|| {
            Box::new(
                Entry::new(
                    FAIL_NOT_FOUND_NET_IF,
                    format!("Net interface '{name}' on node '{}' not found.", n.name),
                )
                .obj("Node", &n.name),
            )
        })
    }

    pub(crate) fn netif_get(&self, node: &str, name: &str) -> Result<Value, Fail> {
        let n = self.node_ref(node)?;
        Ok(self.netif_json(n, self.netif_ref(n, name)?))
    }

    pub(crate) fn netif_create(&mut self, req: &Req<'_>) -> MR {
        let b: NetIfReq = parse(req.body)?;
        let nk = key(&self.node_ref(&req.p[0])?.name);
        if !valid_netif_name(&b.name) {
            return Err(fail(
                FAIL_INVLD_NET_NAME,
                format!(
                    "The specified net interface name '{}' is not a valid name.",
                    b.name
                ),
            ));
        }
        let address = check_addr(&b.address)?;
        let port = check_port(b.satellite_port)?;
        let enc = check_enc(b.satellite_encryption_type.as_deref())?;
        let n = self
            .st
            .nodes
            .get_mut(&nk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        if n.net_ifs.contains_key(&key(&b.name)) {
            return Err(Box::new(
                Entry::new(
                    FAIL_EXISTS_NET_IF,
                    format!(
                        "A net interface with the name '{}' already exists on node '{}'.",
                        b.name, n.name
                    ),
                )
                .obj("Node", &n.name),
            ));
        }
        let id = uuid();
        n.net_ifs.insert(
            key(&b.name),
            NetIfSt {
                name: b.name.clone(),
                address,
                satellite_port: port,
                satellite_encryption_type: enc.or(port.map(|_| "PLAIN".into())),
                uuid: id.clone(),
            },
        );
        if b.is_active == Some(true) && port.is_some() {
            n.props.insert("CurStltConnName".into(), b.name.clone());
        }
        Ok(vec![Entry::new(
            CREATED,
            format!(
                "New netInterface '{}' on node '{}' registered.",
                b.name, n.name
            ),
        )
        .details(format!(
            "NetInterface '{}' on node '{}' UUID is: {id}",
            b.name, n.name
        ))
        .obj("Node", &n.name)])
    }

    pub(crate) fn netif_modify(&mut self, req: &Req<'_>) -> MR {
        let b: NetIfReq = parse(req.body)?;
        let nk = key(&self.node_ref(&req.p[0])?.name);
        let name = {
            let n = &self.st.nodes[&nk];
            self.netif_ref(n, &req.p[1])?.name.clone()
        };
        let address = if b.address.is_empty() {
            None
        } else {
            Some(check_addr(&b.address)?)
        };
        let port = check_port(b.satellite_port)?;
        let enc = check_enc(b.satellite_encryption_type.as_deref())?;
        let n = self
            .st
            .nodes
            .get_mut(&nk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let node_name = n.name.clone();
        let i = n
            .net_ifs
            .get_mut(&key(&name))
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        if let Some(a) = address {
            i.address = a;
        }
        if port.is_some() {
            i.satellite_port = port;
        }
        if enc.is_some() {
            i.satellite_encryption_type = enc;
        }
        let id = i.uuid.clone();
        if b.is_active == Some(true) && i.satellite_port.is_some() {
            n.props.insert("CurStltConnName".into(), name.clone());
        }
        Ok(vec![Entry::new(
            MODIFIED,
            format!("NetInterface '{name}' on node '{node_name}' modified."),
        )
        .details(format!(
            "NetInterface '{name}' on node '{node_name}' UUID is: {id}"
        ))
        .obj("Node", &node_name)])
    }

    pub(crate) fn netif_delete(&mut self, req: &Req<'_>) -> MR {
        let nk = key(&self.node_ref(&req.p[0])?.name);
        let (name, node_name) = {
            let n = &self.st.nodes[&nk];
            (self.netif_ref(n, &req.p[1])?.name.clone(), n.name.clone())
        };
        if key(&name) == key(&Self::active_netif(&self.st.nodes[&nk])) {
            return Err(Box::new(
                Entry::new(
                    FAIL_IN_USE,
                    format!("NetInterface '{name}' on node '{node_name}' is the active satellite connection and cannot be deleted."),
                )
                .correction("Make another net interface the active satellite connection first.")
                .obj("Node", &node_name),
            ));
        }
        if let Some(n) = self.st.nodes.get_mut(&nk) {
            n.net_ifs.remove(&key(&name));
        }
        Ok(vec![Entry::new(
            DELETED,
            format!("NetInterface '{name}' on node '{node_name}' deleted."),
        )
        .obj("Node", &node_name)])
    }
}
