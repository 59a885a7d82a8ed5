//! Node network interfaces (`/v1/nodes/{node}/net-interfaces`), answered like
//! linstor-server's `Nodes` REST class and `CtrlNetIfApiCallHandler`.

use serde_json::{json, Value};

use crate::sim::core::*;
use crate::sim::model::*;
use crate::sim::rc::*;

/// `CtrlNetIfApiCallHandler.getNetIfDescriptionInline`.
fn inline(node: &str, netif: &str) -> String {
    format!("netInterface '{netif}' on node '{node}'")
}

/// `StringUtils.firstLetterCaps` of [`inline`].
fn inline_caps(node: &str, netif: &str) -> String {
    format!("NetInterface '{netif}' on node '{node}'")
}

/// The `ResponseContext` of `CtrlNetIfApiCallHandler.makeNetIfContext`: the object
/// description appended to an error's details, `Node` as object reference (the name as given).
struct Ctx<'a> {
    node: &'a str,
    netif: &'a str,
}

impl Ctx<'_> {
    /// `getNetIfDescription` (its unbalanced quote included).
    fn description(&self) -> String {
        format!("Node: '{}', NetIfName: {}'", self.node, self.netif)
    }

    /// `ResponseConverter.addContext(entry, context, true)`, as `reportException` applies it.
    fn err(&self, e: Entry) -> Fail {
        Box::new(self.detail(e))
    }

    fn detail(&self, mut e: Entry) -> Entry {
        let d = self.description();
        e.details = Some(match e.details.take() {
            Some(x) => format!("{x}\n{d}"),
            None => d,
        });
        e.obj("Node", self.node)
    }

    /// `CtrlApiDataLoader.loadNode(name, true)`.
    fn node_missing(&self) -> Fail {
        let n = self.node;
        self.err(
            Entry::new(FAIL_NOT_FOUND_NODE, format!("Node '{n}' not found."))
                .cause(format!(
                    "The specified node '{n}' could not be found in the database"
                ))
                .correction(format!("Create a node with the name '{n}' first.")),
        )
    }

    /// `CtrlApiDataLoader.loadNode` parses the name first (`LinstorParsingUtils.asNodeName`):
    /// an invalid one is `FAIL_INVLD_NODE_NAME` (500), not a missing node.
    fn check_node(&self) -> Result<(), Fail> {
        hostname_check(self.node).map_err(|why| self.err(*invalid_node_name(self.node, Some(why))))
    }

    /// `LinstorParsingUtils.asNetInterfaceName`; the `InvalidNameException` message becomes
    /// the cause (`ResponseConverter.exceptionToResponse`).
    fn check_name(&self) -> Result<(), Fail> {
        let n = self.netif;
        name_check(n).map_err(|why| {
            self.err(
                Entry::new(
                    FAIL_INVLD_NET_NAME,
                    format!("The specified net interface name '{n}' is invalid."),
                )
                .cause(why),
            )
        })
    }

    /// `LinstorParsingUtils.asLsIpAddress`.
    fn check_addr(&self, a: Option<&str>) -> Result<String, Fail> {
        let parsed = a.and_then(|a| a.parse::<std::net::IpAddr>().ok());
        match parsed {
            Some(ip) => Ok(ip.to_string()),
            None => {
                let shown = a.unwrap_or("null");
                Err(self.err(
                    Entry::new(FAIL_INVLD_NET_ADDR, "Failed to parse IP address")
                        .cause(format!("The specified IP address is not valid\n{shown}"))
                        .details(format!(
                            "The specified input '{shown}' is not a valid IP address."
                        ))
                        .correction("Specify a valid IPv4 or IPv6 address."),
                ))
            }
        }
    }

    /// `LinstorParsingUtils.asTcpPortNumber` (`TcpPortNumber`: 1 - 65535).
    fn check_port(&self, p: i64) -> Result<u32, Fail> {
        if (1..=65535).contains(&p) {
            return Ok(p as u32);
        }
        Err(self.err(
            Entry::new(
                FAIL_INVLD_NET_PORT,
                format!("The given portNumber '{p}' is invalid."),
            )
            .cause(format!("TCP port number {p} is out of range [1 - 65535]")),
        ))
    }

    /// `CtrlNetIfApiCallHandler.asEncryptionType` (`EncryptionType.valueOfIgnoreCase`).
    fn check_enc(&self, e: &str) -> Result<String, Fail> {
        if e.eq_ignore_ascii_case("PLAIN") || e.eq_ignore_ascii_case("SSL") {
            return Ok(e.to_ascii_uppercase());
        }
        Err(self.err(
            Entry::new(FAIL_INVLD_NET_TYPE, "Invalid encryption type").cause(format!(
                "No enum constant com.linbit.linstor.core.objects.NetInterface.EncryptionType.{}",
                e.to_uppercase()
            )),
        ))
    }

    /// `createNetIf`/`modifyNetIf`: `is_active` on an interface without satellite port and
    /// encryption type; the code is the two failure codes OR-ed, as the controller does.
    fn not_usable(&self) -> Fail {
        self.err(Entry::new(
            FAIL_INVLD_NET_PORT | FAIL_INVLD_ENCRYPT_TYPE,
            "No satellite port / encryption type set for active satellite connection",
        ))
    }
}

/// `Checks.nameCheck` with `NetInterfaceName`'s rules (3 to 32 bytes, a letter somewhere,
/// first a letter or `_`, then letters, digits, `_` or `-`), giving the
/// `InvalidNameException` message.
fn name_check(n: &str) -> Result<(), String> {
    let b = n.as_bytes();
    if b.len() < 3 {
        return Err(format!(
            "Invalid name: Name length {} is less than minimum length 3",
            b.len()
        ));
    }
    if b.len() > 32 {
        return Err(format!(
            "Invalid name: Name length {} is greater than maximum length 32",
            b.len()
        ));
    }
    if !b.iter().any(u8::is_ascii_alphabetic) {
        return Err(
            "Invalid name: Name must contain at least one character that matches [a-zA-Z]".into(),
        );
    }
    if !(b[0].is_ascii_alphabetic() || b[0] == b'_') {
        return Err(format!(
            "Invalid name: Cannot begin with character '{}'",
            b[0] as char
        ));
    }
    if let Some(c) = b[1..]
        .iter()
        .find(|c| !(c.is_ascii_alphanumeric() || **c == b'_' || **c == b'-'))
    {
        return Err(format!(
            "Invalid name: Cannot contain character '{}'",
            *c as char
        ));
    }
    Ok(())
}

fn usable(i: &NetIfSt) -> bool {
    i.satellite_port.is_some() && i.satellite_encryption_type.is_some()
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
        }
        if Self::active_netif(n).is_some_and(|a| key(&a) == key(&i.name)) {
            v["is_active"] = json!(true);
        }
        v
    }

    /// Name of the interface that carries the satellite connection (`Node.getActiveStltConn`):
    /// `CurStltConnName`, else `default`, when it exists and has a satellite port.
    pub(crate) fn active_netif(n: &NodeSt) -> Option<String> {
        let name = n
            .props
            .get("CurStltConnName")
            .map(String::as_str)
            .unwrap_or("default");
        n.net_ifs
            .get(&key(name))
            .filter(|i| usable(i))
            .map(|i| i.name.clone())
    }

    /// `Nodes.listNetInterfaces`: an unknown node is thrown from the REST class itself, so the
    /// entry has neither context masks nor object references.
    fn netif_node(&self, node: &str) -> Result<&NodeSt, Fail> {
        self.st.nodes.get(&key(node)).ok_or_else(|| {
            Box::new(
                Entry::new(FAIL_NOT_FOUND_NODE, format!("Node '{node}' not found."))
                    .cause(format!(
                        "The specified node '{node}' could not be found in the database"
                    ))
                    .correction(format!("Create a node with the name '{node}' first.")),
            )
        })
    }

    pub(crate) fn netif_list(&self, req: &Req<'_>) -> Result<Value, Fail> {
        let n = self.netif_node(&req.p[0])?;
        let limit = req.q_usize("limit");
        let offset = req.q_usize("offset");
        let all = n.net_ifs.values().map(|i| self.netif_json(n, i));
        Ok(Value::Array(match limit {
            Some(l) if l > 0 => all.skip(offset.unwrap_or(0)).take(l).collect(),
            _ => all.collect(),
        }))
    }

    /// `RequestHelper.queryRequestResponse`: "Netinterface 'x' not found." without masks.
    pub(crate) fn netif_get(&self, node: &str, name: &str) -> Result<Value, Fail> {
        let n = self.netif_node(node)?;
        n.net_ifs
            .get(&key(name))
            .map(|i| self.netif_json(n, i))
            .ok_or_else(|| {
                fail(
                    FAIL_NOT_FOUND_NET_IF,
                    format!("Netinterface '{name}' not found."),
                )
            })
    }

    /// `CtrlNetIfApiCallHandler.createNetIf`.
    pub(crate) fn netif_create(&mut self, req: &Req<'_>) -> MR {
        let b: NetIfReq = parse(req.body)?;
        let Some(name) = b.name.as_deref() else {
            // `Checks.nameCheck(null)` throws an ImplementationError.
            return Err(Ctx {
                node: &req.p[0],
                netif: "null",
            }
            .err(Entry::new(
                FAIL_IMPL_ERROR,
                format!(
                    "Registration of {} failed due to an implementation error. Method called with name == null",
                    inline(&req.p[0], "null")
                ),
            )));
        };
        let c = Ctx {
            node: &req.p[0],
            netif: name,
        };
        c.check_node()?;
        let nk = key(&self
            .st
            .nodes
            .get(&key(c.node))
            .ok_or_else(|| c.node_missing())?
            .name);
        c.check_name()?;
        let stlt = match (b.satellite_port, b.satellite_encryption_type.as_deref()) {
            (Some(p), Some(e)) => Some((c.check_port(p)?, c.check_enc(e)?)),
            _ => None,
        };
        let address = c.check_addr(b.address.as_deref())?;
        let n = self
            .st
            .nodes
            .get_mut(&nk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        if n.net_ifs.contains_key(&key(name)) {
            // `createNetIf` on `LinStorDataAlreadyExistsException`.
            return Err(c.err(Entry::new(
                FAIL_EXISTS_NET_IF,
                format!("{} already exists.", inline_caps(c.node, name)),
            )));
        }
        let set_active = b.is_active == Some(true);
        let had_active = Self::active_netif(n).is_some();
        if set_active && stlt.is_none() {
            return Err(c.not_usable());
        }
        let id = uuid();
        n.net_ifs.insert(
            key(name),
            NetIfSt {
                name: name.to_string(),
                address,
                satellite_port: stlt.as_ref().map(|s| s.0),
                satellite_encryption_type: stlt.as_ref().map(|s| s.1.clone()),
                uuid: id.clone(),
            },
        );
        let connect = stlt.is_some() && (!had_active || set_active);
        if connect {
            n.props.insert("CurStltConnName".into(), name.to_string());
        }
        let node_name = n.name.clone();
        if connect && !had_active {
            self.set_node_online(&node_name, true);
        }
        Ok(vec![Entry::new(
            CREATED,
            format!("New {} registered.", inline(&node_name, name)),
        )
        .details(format!("{} UUID is: {id}", inline_caps(&node_name, name)))
        .obj("UUID", &id)
        .obj("Node", c.node)])
    }

    /// `CtrlNetIfApiCallHandler.loadNetIf(node, name, true)`.
    fn netif_load(&self, c: &Ctx<'_>) -> Result<(String, String), Fail> {
        c.check_node()?;
        let n = self
            .st
            .nodes
            .get(&key(c.node))
            .ok_or_else(|| c.node_missing())?;
        c.check_name()?;
        let i = n.net_ifs.get(&key(c.netif)).ok_or_else(|| {
            c.err(Entry::new(
                FAIL_NOT_FOUND_NET_IF,
                format!(
                    "Node '{}' has no network interface named '{}'.",
                    c.node, c.netif
                ),
            ))
        })?;
        Ok((key(&n.name), i.name.clone()))
    }

    /// `CtrlNetIfApiCallHandler.modifyNetIf`.
    pub(crate) fn netif_modify(&mut self, req: &Req<'_>) -> MR {
        let b: NetIfReq = parse(req.body)?;
        let c = Ctx {
            node: &req.p[0],
            netif: &req.p[1],
        };
        let (nk, name) = self.netif_load(&c)?;
        let address = match b.address.as_deref() {
            Some(a) => Some(c.check_addr(Some(a))?),
            None => None,
        };
        let stlt = match (b.satellite_port, b.satellite_encryption_type.as_deref()) {
            (Some(p), Some(e)) => Some((c.check_port(p)?, c.check_enc(e)?)),
            _ => None,
        };
        let n = self
            .st
            .nodes
            .get_mut(&nk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let node_name = n.name.clone();
        let mut i = n.net_ifs[&key(&name)].clone();
        if let Some(a) = address {
            i.address = a;
        }
        if let Some((p, e)) = stlt {
            i.satellite_port = Some(p);
            i.satellite_encryption_type = Some(e);
        }
        if b.is_active == Some(true) {
            if !usable(&i) {
                return Err(c.not_usable());
            }
            n.props.insert("CurStltConnName".into(), name.clone());
        }
        let id = i.uuid.clone();
        n.net_ifs.insert(key(&name), i);
        Ok(vec![Entry::new(
            MODIFIED,
            format!("{} modified.", inline_caps(&node_name, &name)),
        )
        .details(format!("{} UUID is: {id}", inline_caps(&node_name, &name)))
        .obj("UUID", &id)
        .obj("Node", c.node)])
    }

    /// `CtrlNetIfApiCallHandler.deleteNetIf`: an unknown node or interface is a warning;
    /// deleting the active satellite connection moves it to another interface with a
    /// satellite port, or, when there is none, disconnects the node and answers only
    /// `WARN_NO_STLT_CONN_DEFINED` (the deletion is committed before).
    pub(crate) fn netif_delete(&mut self, req: &Req<'_>) -> MR {
        let c = Ctx {
            node: &req.p[0],
            netif: &req.p[1],
        };
        c.check_node()?;
        let found = match self.st.nodes.get(&key(c.node)) {
            None => None,
            Some(n) => {
                c.check_name()?;
                n.net_ifs
                    .get(&key(c.netif))
                    .map(|i| (key(&n.name), i.clone()))
            }
        };
        let Some((nk, i)) = found else {
            return Ok(vec![c.detail(
                Entry::new(
                    WARN_NOT_FOUND,
                    format!("Deletion of {} had no effect.", inline(c.node, c.netif)),
                )
                .cause(format!("{} does not exist.", inline_caps(c.node, c.netif))),
            )]);
        };
        let n = self
            .st
            .nodes
            .get_mut(&nk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let was_active = Self::active_netif(n).is_some_and(|a| key(&a) == key(&i.name));
        if was_active {
            let replacement = n
                .net_ifs
                .values()
                .find(|o| key(&o.name) != key(&i.name) && usable(o))
                .map(|o| o.name.clone());
            match replacement {
                Some(r) => {
                    n.props.insert("CurStltConnName".into(), r);
                }
                None => {
                    n.props.remove("CurStltConnName");
                }
            }
        }
        n.net_ifs.remove(&key(&i.name));
        if Self::active_netif(n).is_none() {
            let node_name = n.name.clone();
            self.set_node_online(&node_name, false);
            return Ok(vec![c.detail(Entry::new(
                WARN_NO_STLT_CONN_DEFINED,
                format!(
                    "{} was the last connection to the satellite! \nTo fix this, create at least one netInterface with a valid PORT and COMMUNICATION-TYPE.",
                    inline_caps(c.node, c.netif)
                ),
            ))]);
        }
        Ok(vec![Entry::new(
            DELETED,
            format!("{} deleted.", inline_caps(c.node, c.netif)),
        )
        .details(format!(
            "{} UUID was: {}",
            inline_caps(c.node, c.netif),
            i.uuid
        ))
        .obj("UUID", &i.uuid)
        .obj("Node", c.node)])
    }
}
