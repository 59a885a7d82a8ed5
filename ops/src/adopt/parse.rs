//! Reads DRBD configuration text (a `.res` file from `/etc/drbd.d/` or the output of
//! `drbdadm dump`) into a [`DrbdResource`] model: hosts (`on` and `floating` sections) with their
//! node ids and addresses, and per host the effective volumes (resource-level settings merged
//! with the host's own). Never panics on input; nesting is bounded.

use std::collections::BTreeMap;

use super::AdoptError;

const MAX_DEPTH: usize = 16;
const MAX_TOKENS: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Semi,
}

fn syntax(line: usize, message: impl Into<String>) -> AdoptError {
    AdoptError::Syntax {
        line,
        message: message.into(),
    }
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, AdoptError> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if out.len() > MAX_TOKENS {
            return Err(syntax(line, "the configuration is too large"));
        }
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '{' => out.push((Tok::Open, line)),
            '}' => out.push((Tok::Close, line)),
            ';' => out.push((Tok::Semi, line)),
            '"' => {
                let start = line;
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(syntax(start, "a quoted string is not closed")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e) => {
                                if e == '\n' {
                                    line += 1;
                                }
                                s.push(e);
                            }
                            None => return Err(syntax(start, "a quoted string is not closed")),
                        },
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            s.push(c);
                        }
                    }
                }
                out.push((Tok::Word(s), start));
            }
            c => {
                let mut s = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '{' | '}' | ';' | '"' | '#') {
                        break;
                    }
                    s.push(n);
                    chars.next();
                }
                out.push((Tok::Word(s), line));
            }
        }
    }
    Ok(out)
}

/// One statement: keyword and arguments, ended by `;` or followed by a `{ … }` block.
#[derive(Debug, Clone)]
struct Stmt {
    words: Vec<String>,
    block: Option<Vec<Stmt>>,
    line: usize,
}

impl Stmt {
    fn keyword(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }
    fn args(&self) -> &[String] {
        self.words.get(1..).unwrap_or(&[])
    }
}

fn parse_block(
    toks: &[(Tok, usize)],
    pos: &mut usize,
    depth: usize,
    opened: Option<usize>,
) -> Result<Vec<Stmt>, AdoptError> {
    if depth > MAX_DEPTH {
        let line = toks.get(*pos).map_or(0, |t| t.1);
        return Err(syntax(line, "sections are nested too deeply"));
    }
    let mut stmts = Vec::new();
    let mut words = Vec::new();
    let mut start = 0;
    loop {
        let Some((tok, line)) = toks.get(*pos) else {
            if let Some(line) = opened {
                return Err(syntax(
                    line,
                    "the '{' section opened here is not closed with '}'",
                ));
            }
            if !words.is_empty() {
                return Err(syntax(start, "the last statement is not ended with ';'"));
            }
            return Ok(stmts);
        };
        *pos += 1;
        match tok {
            Tok::Word(w) => {
                if words.is_empty() {
                    start = *line;
                }
                words.push(w.clone());
            }
            Tok::Semi => {
                if !words.is_empty() {
                    stmts.push(Stmt {
                        words: std::mem::take(&mut words),
                        block: None,
                        line: start,
                    });
                }
            }
            Tok::Open => {
                if words.is_empty() {
                    return Err(syntax(*line, "a '{' section has no keyword before it"));
                }
                let inner = parse_block(toks, pos, depth + 1, Some(*line))?;
                stmts.push(Stmt {
                    words: std::mem::take(&mut words),
                    block: Some(inner),
                    line: start,
                });
            }
            Tok::Close => {
                if opened.is_none() {
                    return Err(syntax(*line, "'}' without a matching '{'"));
                }
                if !words.is_empty() {
                    return Err(syntax(start, "a statement is not ended with ';'"));
                }
                return Ok(stmts);
            }
        }
    }
}

/// An address of a host: `[family] ip:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// `ipv4`, `ipv6`, `ssocks`, `sdp`, `sci`.
    pub family: String,
    /// The IP address without brackets.
    pub ip: String,
    /// TCP port.
    pub port: u16,
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.family == "ipv6" {
            write!(f, "[{}]:{}", self.ip, self.port)
        } else {
            write!(f, "{}:{}", self.ip, self.port)
        }
    }
}

fn parse_address(args: &[String], line: usize) -> Result<Address, AdoptError> {
    let (family, addr) = match args {
        [a] => (None, a),
        [f, a] => (Some(f.to_ascii_lowercase()), a),
        _ => {
            return Err(syntax(
                line,
                "an address is written 'address [ipv4|ipv6] <ip>:<port>'",
            ))
        }
    };
    let bad = || {
        syntax(
            line,
            format!("cannot read address '{addr}': expected <ipv4>:<port> or [<ipv6>]:<port>"),
        )
    };
    let (ip, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:").ok_or_else(bad)?;
        (ip.to_string(), port)
    } else {
        let (ip, port) = addr.rsplit_once(':').ok_or_else(bad)?;
        if ip.contains(':') {
            return Err(bad());
        }
        (ip.to_string(), port)
    };
    if ip.is_empty() {
        return Err(bad());
    }
    let port: u16 = port.parse().map_err(|_| bad())?;
    let family = family.unwrap_or_else(|| {
        if addr.starts_with('[') {
            "ipv6".into()
        } else {
            "ipv4".into()
        }
    });
    Ok(Address { family, ip, port })
}

/// Where a volume keeps its DRBD metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaDisk {
    /// `meta-disk internal;` (at the end of the backing device).
    Internal,
    /// `meta-disk <device> [index];` or `flexible-meta-disk <device>;`.
    External(String),
}

/// One DRBD volume as a host sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrbdVolume {
    /// Volume number.
    pub number: u32,
    /// Minor number of `/dev/drbd<minor>`.
    pub minor: Option<u32>,
    /// Backing device; `None` when not given, `Some("none")` on a diskless host.
    pub disk: Option<String>,
    /// Metadata location.
    pub meta_disk: Option<MetaDisk>,
}

impl DrbdVolume {
    /// The host has no backing disk for this volume (`disk none;`).
    pub fn is_diskless(&self) -> bool {
        self.disk.as_deref() == Some("none")
    }
}

/// How a host section names its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostName {
    /// `on <hostname> { … }`.
    On(String),
    /// `floating [family] <ip>:<port> { … }`: identified by address only.
    Floating(Address),
}

impl std::fmt::Display for HostName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostName::On(n) => write!(f, "host '{n}'"),
            HostName::Floating(a) => write!(f, "floating host {a}"),
        }
    }
}

/// One host of a resource with its effective volumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrbdHost {
    /// Host name or floating address.
    pub name: HostName,
    /// DRBD node id.
    pub node_id: Option<u32>,
    /// Replication address (from the host section or a `connection` section).
    pub address: Option<Address>,
    /// Volumes, by number.
    pub volumes: BTreeMap<u32, DrbdVolume>,
    /// Option sections of this host's own `volume` sections, by volume number.
    pub volume_sections: BTreeMap<u32, Vec<OptionSection>>,
}

/// A DRBD resource as configured by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrbdResource {
    /// Resource name.
    pub name: String,
    /// Hosts in file order.
    pub hosts: Vec<DrbdHost>,
    /// Resource-level option sections (`net`, `disk`, `options`, `handlers`, …).
    pub sections: Vec<OptionSection>,
    /// Option sections of the resource-level `volume` sections, by volume number.
    pub volume_sections: BTreeMap<u32, Vec<OptionSection>>,
    /// `connection` sections.
    pub connections: Vec<DrbdConnection>,
    /// `connection-mesh` sections.
    pub meshes: Vec<DrbdMesh>,
    /// Option sections of the configuration's `common` section, which apply to every resource.
    pub common: Vec<OptionSection>,
    /// Options of the `global` section.
    pub global: Vec<DrbdOption>,
    /// Statements adopt does not understand.
    pub unhandled: Vec<Unhandled>,
}

fn parse_u32(s: &str, what: &str, line: usize) -> Result<u32, AdoptError> {
    s.parse()
        .map_err(|_| syntax(line, format!("{what} '{s}' is not a number")))
}

/// One option of a DRBD section as written (`resync-rate 100M;`); a bare flag reads `yes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrbdOption {
    /// Option name.
    pub name: String,
    /// Value as written (arguments joined by one space).
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

/// A section of options: `net`, `disk`, `options`, `handlers`, `startup`, `proxy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionSection {
    /// Section keyword.
    pub kind: String,
    /// Options in file order.
    pub options: Vec<DrbdOption>,
}

/// A `connection { … }` section between two hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrbdConnection {
    /// The two hosts (from `host` lines or the first path).
    pub hosts: Vec<String>,
    /// Paths: explicit `path { … }` sections, or the one implied by `host <h> address …` lines.
    pub paths: Vec<Vec<(String, Address)>>,
    /// `net` and `disk` sections of the connection.
    pub sections: Vec<OptionSection>,
    /// 1-based line.
    pub line: usize,
}

/// A `connection-mesh { hosts …; }` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrbdMesh {
    /// Hosts of the mesh.
    pub hosts: Vec<String>,
    /// `net` and `disk` sections of the mesh.
    pub sections: Vec<OptionSection>,
    /// 1-based line.
    pub line: usize,
}

/// A statement adopt does not understand, kept so that the plan names it instead of losing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhandled {
    /// Where it is (`resource`, `on alpha`, `connection alpha-bravo`, …).
    pub place: String,
    /// The statement, with `{ … }` for a section.
    pub text: String,
    /// 1-based line.
    pub line: usize,
}

const OPTION_SECTIONS: [&str; 6] = ["net", "disk", "options", "handlers", "startup", "proxy"];

fn stmt_text(s: &Stmt) -> String {
    let mut t = s.words.join(" ");
    if s.block.is_some() {
        t.push_str(" { … }");
    }
    t
}

fn unhandled(place: &str, s: &Stmt) -> Unhandled {
    Unhandled {
        place: place.to_string(),
        text: stmt_text(s),
        line: s.line,
    }
}

fn option_section(
    s: &Stmt,
    block: &[Stmt],
    place: &str,
    out: &mut Vec<Unhandled>,
) -> OptionSection {
    let kind = s.keyword().to_string();
    let mut options = Vec::new();
    for c in block {
        if c.block.is_some() {
            out.push(unhandled(&format!("{place} {kind}"), c));
            continue;
        }
        let value = if c.args().is_empty() {
            "yes".to_string()
        } else {
            c.args().join(" ")
        };
        options.push(DrbdOption {
            name: c.keyword().to_string(),
            value,
            line: c.line,
        });
    }
    OptionSection { kind, options }
}

fn is_volume_field(s: &Stmt) -> bool {
    s.block.is_none()
        && matches!(
            s.keyword(),
            "device" | "disk" | "meta-disk" | "flexible-meta-disk"
        )
}

/// Applies `device`, `disk`, `meta-disk` statements of `stmts` to `vol`.
fn volume_fields(stmts: &[Stmt], vol: &mut DrbdVolume) -> Result<(), AdoptError> {
    for s in stmts.iter().filter(|s| is_volume_field(s)) {
        match s.keyword() {
            "device" => {
                let args = s.args();
                let mut minor = None;
                let mut i = 0;
                while i < args.len() {
                    if args[i] == "minor" {
                        let m = args.get(i + 1).ok_or_else(|| {
                            syntax(s.line, "'device … minor' needs a number after 'minor'")
                        })?;
                        minor = Some(parse_u32(m, "minor number", s.line)?);
                        i += 2;
                    } else {
                        if minor.is_none() {
                            if let Some(d) = args[i].strip_prefix("/dev/drbd") {
                                if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) {
                                    minor = Some(parse_u32(d, "minor number", s.line)?);
                                }
                            }
                        }
                        i += 1;
                    }
                }
                vol.minor = minor.or(vol.minor);
                if vol.minor.is_none() {
                    return Err(syntax(
                        s.line,
                        "cannot tell the minor number from this 'device' line; write 'device minor <n>;' or 'device /dev/drbd<n>;'",
                    ));
                }
            }
            "disk" => {
                let [d] = s.args() else {
                    return Err(syntax(s.line, "'disk' takes one device path (or 'none')"));
                };
                vol.disk = Some(d.clone());
            }
            _ => {
                let Some(m) = s.args().first() else {
                    return Err(syntax(
                        s.line,
                        "'meta-disk' takes 'internal' or a device path",
                    ));
                };
                vol.meta_disk = Some(if m == "internal" {
                    MetaDisk::Internal
                } else {
                    MetaDisk::External(s.args().join(" "))
                });
            }
        }
    }
    Ok(())
}

/// Volumes by number, and the option sections of their `volume` sections.
type VolumesAndOptions = (BTreeMap<u32, DrbdVolume>, BTreeMap<u32, Vec<OptionSection>>);

fn has_volume_fields(stmts: &[Stmt]) -> bool {
    stmts
        .iter()
        .any(|s| s.block.is_none() && matches!(s.keyword(), "device" | "disk" | "meta-disk"))
}

/// Volumes declared directly in `stmts` with their option sections: `volume <n> { … }`
/// sections, plus the implicit volume 0 when `device`/`disk`/`meta-disk` appear outside a
/// volume section.
fn volumes_of(
    stmts: &[Stmt],
    place: &str,
    out_unhandled: &mut Vec<Unhandled>,
) -> Result<VolumesAndOptions, AdoptError> {
    let mut out: BTreeMap<u32, DrbdVolume> = BTreeMap::new();
    let mut sections: BTreeMap<u32, Vec<OptionSection>> = BTreeMap::new();
    if has_volume_fields(stmts) {
        let mut v = DrbdVolume::default();
        volume_fields(stmts, &mut v)?;
        out.insert(0, v);
    }
    for s in stmts {
        if let ("volume", Some(block)) = (s.keyword(), &s.block) {
            let [n] = s.args() else {
                return Err(syntax(
                    s.line,
                    "a volume section is written 'volume <n> { … }'",
                ));
            };
            let nr = parse_u32(n, "volume number", s.line)?;
            if nr > 65534 {
                return Err(syntax(
                    s.line,
                    format!("volume number {nr} is out of range (0-65534)"),
                ));
            }
            let v = out.entry(nr).or_insert_with(|| DrbdVolume {
                number: nr,
                ..Default::default()
            });
            v.number = nr;
            volume_fields(block, v)?;
            let vplace = format!("{place} volume {nr}");
            for c in block {
                match (&c.block, c.keyword()) {
                    (Some(b), "disk") => sections.entry(nr).or_default().push(option_section(
                        c,
                        b,
                        &vplace,
                        out_unhandled,
                    )),
                    _ if is_volume_field(c) => {}
                    _ => out_unhandled.push(unhandled(&vplace, c)),
                }
            }
        }
    }
    Ok((out, sections))
}

fn merge(
    base: &BTreeMap<u32, DrbdVolume>,
    own: &BTreeMap<u32, DrbdVolume>,
) -> BTreeMap<u32, DrbdVolume> {
    let mut out = base.clone();
    for (nr, v) in own {
        let e = out.entry(*nr).or_insert_with(|| DrbdVolume {
            number: *nr,
            ..Default::default()
        });
        e.minor = v.minor.or(e.minor);
        if v.disk.is_some() {
            e.disk.clone_from(&v.disk);
        }
        if v.meta_disk.is_some() {
            e.meta_disk.clone_from(&v.meta_disk);
        }
    }
    out
}

fn host_fields(
    stmts: &[Stmt],
    host: &mut DrbdHost,
    place: &str,
    out: &mut Vec<Unhandled>,
) -> Result<(), AdoptError> {
    for s in stmts {
        if s.block.is_some() {
            if s.keyword() != "volume" {
                out.push(unhandled(place, s));
            }
            continue;
        }
        match s.keyword() {
            "node-id" => {
                let [n] = s.args() else {
                    return Err(syntax(s.line, "'node-id' takes one number"));
                };
                let id = parse_u32(n, "node id", s.line)?;
                if id > 31 {
                    return Err(syntax(
                        s.line,
                        format!("node id {id} is out of range (DRBD node ids are 0-31)"),
                    ));
                }
                host.node_id = Some(id);
            }
            "address" => host.address = Some(parse_address(s.args(), s.line)?),
            _ if is_volume_field(s) => {}
            _ => out.push(unhandled(place, s)),
        }
    }
    Ok(())
}

/// `host <h> [address [family] <ip>:<port>] [port <p>] [via …];`: the host and its address.
fn connection_host(c: &Stmt) -> Result<(String, Option<Address>), AdoptError> {
    let args = c.args();
    let Some(h) = args.first() else {
        return Err(syntax(c.line, "a 'host' line needs a host name"));
    };
    let mut addr = None;
    if let Some(i) = args.iter().position(|a| a == "address") {
        let rest = &args[i + 1..];
        let rest = rest
            .iter()
            .position(|a| a == "via" || a == "port")
            .map_or(rest, |j| &rest[..j]);
        addr = Some(parse_address(rest, c.line)?);
    }
    Ok((h.clone(), addr))
}

fn connection_of(
    s: &Stmt,
    block: &[Stmt],
    out: &mut Vec<Unhandled>,
) -> Result<DrbdConnection, AdoptError> {
    let mut hosts = Vec::new();
    let mut implicit = Vec::new();
    let mut paths = Vec::new();
    let mut sections = Vec::new();
    let mut rest = Vec::new();
    for c in block {
        match (c.keyword(), &c.block) {
            ("host", None) => {
                let (h, a) = connection_host(c)?;
                hosts.push(h.clone());
                if let Some(a) = a {
                    implicit.push((h, a));
                }
            }
            ("path", Some(pb)) => {
                let mut path = Vec::new();
                for ph in pb {
                    match (ph.keyword(), &ph.block) {
                        ("host", None) => {
                            let (h, a) = connection_host(ph)?;
                            match a {
                                Some(a) => path.push((h, a)),
                                None => rest.push(ph.clone()),
                            }
                        }
                        _ => rest.push(ph.clone()),
                    }
                }
                paths.push(path);
            }
            ("net" | "disk", Some(b)) => sections.push((c.clone(), b.clone())),
            _ => rest.push(c.clone()),
        }
    }
    if hosts.is_empty() {
        if let Some(p) = paths.first() {
            hosts = p.iter().map(|(h, _)| h.clone()).collect();
        }
    }
    if paths.is_empty() && !implicit.is_empty() {
        paths.push(implicit);
    }
    let place = format!("connection {}", hosts.join("-"));
    let sections = sections
        .iter()
        .map(|(c, b)| option_section(c, b, &place, out))
        .collect();
    out.extend(rest.iter().map(|c| unhandled(&place, c)));
    Ok(DrbdConnection {
        hosts,
        paths,
        sections,
        line: s.line,
    })
}

fn mesh_of(s: &Stmt, block: &[Stmt], out: &mut Vec<Unhandled>) -> DrbdMesh {
    let mut hosts = Vec::new();
    let mut sections = Vec::new();
    for c in block {
        match (c.keyword(), &c.block) {
            ("hosts", None) => hosts.extend(c.args().iter().cloned()),
            ("net" | "disk", Some(b)) => {
                sections.push(option_section(c, b, "connection-mesh", out))
            }
            _ => out.push(unhandled("connection-mesh", c)),
        }
    }
    DrbdMesh {
        hosts,
        sections,
        line: s.line,
    }
}

fn resource_of(name: &str, stmts: &[Stmt]) -> Result<DrbdResource, AdoptError> {
    let mut unhandled_out = Vec::new();
    let (base, volume_sections) = volumes_of(stmts, "resource", &mut unhandled_out)?;
    let mut hosts: Vec<DrbdHost> = Vec::new();
    let mut sections = Vec::new();
    let mut connections = Vec::new();
    let mut meshes = Vec::new();
    for s in stmts {
        let Some(block) = &s.block else {
            if !is_volume_field(s) {
                unhandled_out.push(unhandled("resource", s));
            }
            continue;
        };
        match s.keyword() {
            "on" => {
                let host = match s.args() {
                    [h] => h.clone(),
                    [] => return Err(syntax(s.line, "an 'on' section needs a host name")),
                    _ => {
                        return Err(syntax(
                            s.line,
                            format!(
                            "'on {}' names several hosts; write one 'on <host>' section per host",
                            s.args().join(" ")
                        ),
                        ))
                    }
                };
                let place = format!("on {host}");
                let (own, own_sections) = volumes_of(block, &place, &mut unhandled_out)?;
                let mut h = DrbdHost {
                    name: HostName::On(host),
                    node_id: None,
                    address: None,
                    volumes: merge(&base, &own),
                    volume_sections: own_sections,
                };
                host_fields(block, &mut h, &place, &mut unhandled_out)?;
                hosts.push(h);
            }
            "floating" => {
                let addr = parse_address(s.args(), s.line)?;
                let place = format!("floating {addr}");
                let (own, own_sections) = volumes_of(block, &place, &mut unhandled_out)?;
                let mut h = DrbdHost {
                    name: HostName::Floating(addr.clone()),
                    node_id: None,
                    address: Some(addr),
                    volumes: merge(&base, &own),
                    volume_sections: own_sections,
                };
                host_fields(block, &mut h, &place, &mut unhandled_out)?;
                hosts.push(h);
            }
            "connection" => connections.push(connection_of(s, block, &mut unhandled_out)?),
            "connection-mesh" => meshes.push(mesh_of(s, block, &mut unhandled_out)),
            "volume" => {}
            k if OPTION_SECTIONS.contains(&k) && s.args().is_empty() => {
                sections.push(option_section(s, block, "resource", &mut unhandled_out))
            }
            _ => unhandled_out.push(unhandled("resource", s)),
        }
    }
    for h in &mut hosts {
        if let (HostName::On(n), None) = (&h.name, &h.address) {
            h.address = connections
                .iter()
                .flat_map(|c| c.paths.iter().flatten())
                .find(|(ph, _)| ph == n)
                .map(|(_, a)| a.clone());
        }
    }
    Ok(DrbdResource {
        name: name.to_string(),
        hosts,
        sections,
        volume_sections,
        connections,
        meshes,
        common: Vec::new(),
        global: Vec::new(),
        unhandled: unhandled_out,
    })
}

/// Parses DRBD configuration text (`.res` file or `drbdadm dump` output) into its resources.
pub fn parse_config(text: &str) -> Result<Vec<DrbdResource>, AdoptError> {
    let toks = tokenize(text)?;
    let mut pos = 0;
    let stmts = parse_block(&toks, &mut pos, 0, None)?;
    let mut out = Vec::new();
    let mut common = Vec::new();
    let mut common_unhandled = Vec::new();
    let mut global = Vec::new();
    for s in &stmts {
        match (s.keyword(), &s.block) {
            ("common", Some(block)) => {
                for c in block {
                    match &c.block {
                        Some(b) if OPTION_SECTIONS.contains(&c.keyword()) => {
                            common.push(option_section(c, b, "common", &mut common_unhandled))
                        }
                        _ => common_unhandled.push(unhandled("common", c)),
                    }
                }
            }
            ("global", Some(block)) => {
                let sec = option_section(s, block, "global", &mut common_unhandled);
                global.extend(sec.options);
            }
            _ => {}
        }
    }
    for s in &stmts {
        if let ("resource", Some(block)) = (s.keyword(), &s.block) {
            let [name] = s.args() else {
                return Err(syntax(
                    s.line,
                    "a resource section is written 'resource <name> { … }'",
                ));
            };
            let mut r = resource_of(name, block)?;
            r.common.clone_from(&common);
            r.global.clone_from(&global);
            let mut u = common_unhandled.clone();
            u.append(&mut r.unhandled);
            r.unhandled = u;
            out.push(r);
        }
    }
    Ok(out)
}

/// Parses the text and picks one resource: `wanted`, or the only one.
pub fn parse_resource(text: &str, wanted: Option<&str>) -> Result<DrbdResource, AdoptError> {
    let all = parse_config(text)?;
    match wanted {
        Some(w) => all.into_iter().find(|r| r.name == w).ok_or_else(|| {
            AdoptError::NoResource(format!("no resource '{w}' in the configuration"))
        }),
        None => {
            if all.len() > 1 {
                return Err(AdoptError::NoResource(format!(
                    "the configuration has several resources ({}); choose one with --resource",
                    all.iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            all.into_iter().next().ok_or_else(|| {
                AdoptError::NoResource(
                    "the configuration has no 'resource <name> { … }' section".into(),
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGACY: &str = r#"
# hand-made, 2 nodes
resource legacy {
    net { protocol C; }
    volume 10 {
        device    minor 9100;
        disk      /dev/vg0/legacy_data;
        meta-disk internal;
    }
    on alpha {
        node-id 4;
        address 10.0.0.1:15500;
    }
    on bravo {
        node-id 8;
        address ipv4 10.0.0.2:15500;
    }
}
"#;

    fn vol(r: &DrbdResource, host: usize, nr: u32) -> &DrbdVolume {
        &r.hosts[host].volumes[&nr]
    }

    #[test]
    fn one_volume_at_resource_level_applies_to_every_host() {
        let r = parse_resource(LEGACY, None).unwrap();
        assert_eq!(r.name, "legacy");
        assert_eq!(r.hosts.len(), 2);
        assert_eq!(r.hosts[0].name, HostName::On("alpha".into()));
        assert_eq!(r.hosts[0].node_id, Some(4));
        assert_eq!(r.hosts[1].node_id, Some(8));
        assert_eq!(r.hosts[1].address.as_ref().unwrap().port, 15500);
        assert_eq!(r.hosts[1].address.as_ref().unwrap().ip, "10.0.0.2");
        for h in 0..2 {
            let v = vol(&r, h, 10);
            assert_eq!(v.minor, Some(9100));
            assert_eq!(v.disk.as_deref(), Some("/dev/vg0/legacy_data"));
            assert_eq!(v.meta_disk, Some(MetaDisk::Internal));
        }
    }

    #[test]
    fn several_volumes_inside_host_sections_drbdadm_dump_style() {
        let text = r#"
# /etc/drbd.conf
global { usage-count no; }
common { }
# resource r0 on alpha: not ignored, not stacked
# defined at /etc/drbd.d/r0.res:1
resource r0 {
    on alpha {
        node-id 0;
        volume 0 {
            device       /dev/drbd1 minor 1;
            disk         /dev/vg/r0_a;
            meta-disk    internal;
        }
        volume 1 {
            device       "/dev/drbd2";
            disk         /dev/vg/r0_b;
            disk { resync-rate 100M; }
            meta-disk    internal;
        }
        address          ipv4 192.168.1.1:7789;
    }
    on bravo {
        node-id 1;
        volume 0 { device minor 1; disk /dev/vg/r0_a; meta-disk internal; }
        volume 1 { device minor 2; disk /dev/vg/r0_b; meta-disk internal; }
        address          ipv4 192.168.1.2:7789;
    }
    connection-mesh { hosts alpha bravo; }
}
"#;
        let r = parse_resource(text, None).unwrap();
        assert_eq!(r.hosts[0].volumes.len(), 2);
        assert_eq!(vol(&r, 0, 1).minor, Some(2));
        assert_eq!(vol(&r, 0, 1).disk.as_deref(), Some("/dev/vg/r0_b"));
        assert_eq!(vol(&r, 1, 0).minor, Some(1));
        assert_eq!(r.hosts[1].node_id, Some(1));
    }

    #[test]
    fn external_metadata_is_recorded_as_external() {
        let text = "resource x { on a { node-id 0; address 1.2.3.4:7000; volume 0 { device minor 5; disk /dev/vg/x; meta-disk /dev/sdb1 0; } } }";
        let r = parse_resource(text, None).unwrap();
        assert_eq!(
            vol(&r, 0, 0).meta_disk,
            Some(MetaDisk::External("/dev/sdb1 0".into()))
        );
        let flex = "resource x { on a { node-id 0; address 1.2.3.4:7000; device minor 5; disk /dev/vg/x; flexible-meta-disk /dev/sdc; } }";
        let r = parse_resource(flex, None).unwrap();
        assert_eq!(
            vol(&r, 0, 0).meta_disk,
            Some(MetaDisk::External("/dev/sdc".into()))
        );
    }

    #[test]
    fn ipv6_addresses_with_and_without_family() {
        let text = "resource v6 { device minor 7; disk /dev/vg/v6; meta-disk internal;
            on a { node-id 1; address ipv6 [fd00::1]:7010; }
            on b { node-id 2; address [fd00:0:0:1::2]:7010; } }";
        let r = parse_resource(text, None).unwrap();
        let a = r.hosts[0].address.as_ref().unwrap();
        assert_eq!(
            (a.family.as_str(), a.ip.as_str(), a.port),
            ("ipv6", "fd00::1", 7010)
        );
        let b = r.hosts[1].address.as_ref().unwrap();
        assert_eq!(
            (b.family.as_str(), b.ip.as_str()),
            ("ipv6", "fd00:0:0:1::2")
        );
        assert_eq!(b.to_string(), "[fd00:0:0:1::2]:7010");
        assert_eq!(vol(&r, 1, 0).minor, Some(7));
    }

    #[test]
    fn floating_sections_are_hosts_named_by_address() {
        let text = "resource fl {
            floating 10.1.1.31:7706 { device minor 6; disk /dev/vg/fl; meta-disk internal; node-id 0; }
            floating ipv6 [fd01::32]:7706 { device minor 6; disk /dev/vg/fl; meta-disk internal; node-id 1; }
        }";
        let r = parse_resource(text, None).unwrap();
        match &r.hosts[0].name {
            HostName::Floating(a) => assert_eq!((a.ip.as_str(), a.port), ("10.1.1.31", 7706)),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.hosts[1].address.as_ref().unwrap().family, "ipv6");
        assert_eq!(r.hosts[1].node_id, Some(1));
    }

    #[test]
    fn addresses_from_connection_sections() {
        let text = r#"resource "vm-902-disk-1" {
            on pve-2 { volume 0 { disk /dev/zvol/rpool/vm-902-disk-1_00000; meta-disk internal; device minor 1005; } node-id 1; }
            on pve-1 { volume 0 { disk none; meta-disk internal; device minor 1005; } node-id 0; }
            connection {
                host pve-2 address ipv4 10.0.0.2:7005;
                host pve-1 address ipv4 10.0.0.1:7005;
            }
        }"#;
        let with_path = "resource p {
            on a { node-id 0; device minor 3; disk /dev/vg/p; meta-disk internal; }
            on b { node-id 1; device minor 3; disk /dev/vg/p; meta-disk internal; }
            connection { path { host a address 192.168.7.1:7003; host b address ipv6 [fd00::7]:7003; } }
        }";
        let p = parse_resource(with_path, None).unwrap();
        assert_eq!(p.hosts[0].address.as_ref().unwrap().ip, "192.168.7.1");
        assert_eq!(p.hosts[1].address.as_ref().unwrap().family, "ipv6");
        let r = parse_resource(text, None).unwrap();
        assert_eq!(r.name, "vm-902-disk-1");
        assert_eq!(r.hosts[0].address.as_ref().unwrap().ip, "10.0.0.2");
        assert_eq!(r.hosts[1].address.as_ref().unwrap().port, 7005);
        assert!(vol(&r, 1, 0).is_diskless());
    }

    #[test]
    fn sections_connections_meshes_common_and_unknown_statements_are_kept() {
        let text = r#"
global { usage-count no; }
common { net { max-buffers 4000; } bogus 1; }
resource r {
    options { quorum majority; }
    net { protocol C; allow-two-primaries; }
    startup { wfc-timeout 10; }
    template-file "/x";
    volume 0 { device minor 1; disk /dev/vg/r; meta-disk internal; disk { al-extents 257; } }
    on a { node-id 0; volume 0 { disk { disk-timeout 5; } } proxy { memlimit 1M; } }
    on b { node-id 1; }
    connection {
        path { host a address 10.0.0.1:7000; host b address 10.0.0.2:7000; }
        path { host a address 10.1.0.1:7000; host b address ipv6 [fd00::2]:7000; }
        net { sndbuf-size 1M; }
    }
    connection-mesh { hosts a b; disk { c-max-rate 10M; } }
}
"#;
        let r = parse_resource(text, None).unwrap();
        let opt = |s: &OptionSection| -> Vec<(String, String)> {
            s.options
                .iter()
                .map(|o| (o.name.clone(), o.value.clone()))
                .collect()
        };
        assert_eq!(r.global[0].name, "usage-count");
        assert_eq!(r.common[0].kind, "net");
        assert_eq!(
            r.sections
                .iter()
                .map(|s| s.kind.as_str())
                .collect::<Vec<_>>(),
            ["options", "net", "startup"]
        );
        assert_eq!(
            opt(&r.sections[1])[1],
            ("allow-two-primaries".into(), "yes".into()),
            "a bare flag reads yes"
        );
        assert_eq!(
            opt(&r.volume_sections[&0][0]),
            [("al-extents".into(), "257".into())]
        );
        assert_eq!(
            opt(&r.hosts[0].volume_sections[&0][0]),
            [("disk-timeout".into(), "5".into())]
        );
        let c = &r.connections[0];
        assert_eq!(c.hosts, ["a", "b"]);
        assert_eq!(c.paths.len(), 2);
        assert_eq!(c.paths[1][1].1.to_string(), "[fd00::2]:7000");
        assert_eq!(opt(&c.sections[0]), [("sndbuf-size".into(), "1M".into())]);
        assert_eq!(r.meshes[0].hosts, ["a", "b"]);
        assert_eq!(r.meshes[0].sections[0].kind, "disk");
        assert_eq!(
            r.hosts[0].address.as_ref().unwrap().ip,
            "10.0.0.1",
            "the first path gives a host without its own address"
        );
        let unknown: Vec<(&str, &str)> = r
            .unhandled
            .iter()
            .map(|u| (u.place.as_str(), u.text.as_str()))
            .collect();
        assert_eq!(
            unknown,
            [
                ("common", "bogus 1"),
                ("resource", "template-file /x"),
                ("on a", "proxy { … }"),
            ]
        );
    }

    #[test]
    fn picks_a_resource_by_name_and_refuses_ambiguity() {
        let text = "resource a { } resource b { }";
        assert_eq!(parse_resource(text, Some("b")).unwrap().name, "b");
        let e = parse_resource(text, None).unwrap_err().to_string();
        assert!(
            e.contains("several resources (a, b)") && e.contains("--resource"),
            "{e}"
        );
        let e = parse_resource(text, Some("c")).unwrap_err().to_string();
        assert!(e.contains("no resource 'c'"), "{e}");
        let e = parse_resource("global { usage-count no; }", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no 'resource"), "{e}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        for (text, line, what) in [
            ("resource a {\n on b {\n", 2, "not closed"),
            ("resource a { }\n}", 2, "without a matching"),
            ("resource a {\n on b { node-id x; }\n}", 2, "node id 'x'"),
            (
                "resource a {\n on b { address 1.2.3.4; }\n}",
                2,
                "cannot read address",
            ),
            ("resource a {\n on b { node-id 40; }\n}", 2, "0-31"),
            ("resource \"a {", 1, "quoted string"),
            ("resource a {\n device /dev/drbd_x;\n}", 2, "minor number"),
        ] {
            match parse_resource(text, None) {
                Err(AdoptError::Syntax { line: l, message }) => {
                    assert_eq!(l, line, "{text}: {message}");
                    assert!(message.contains(what), "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn deep_nesting_and_garbage_never_panic() {
        let deep = "a {".repeat(10_000);
        assert!(parse_config(&deep).is_err());
        for junk in [
            "",
            "}",
            "{",
            ";;;",
            "resource",
            "\"",
            "resource a { on { } }",
            "resource a { volume 99999 { } }",
            "resource a { floating x { } }",
            "\u{0}\u{ffff}",
        ] {
            let _ = parse_config(junk);
        }
    }
}
