//! Controller discovery (`LS_CONTROLLERS`, `linstor-client.conf`, auth.json, `LS_USERNAME`/
//! `LS_PASSWORD`), URL forms, and the [`Overlay`] each frontend fills from its own settings:
//! together they give the [`ClientConfig`] of a [`crate::client::Client`]. Frontends and
//! `linstor-plugins doctor` resolve a configuration only through [`ClientConfig::discover`], so
//! both reach the same controllers with the same TLS files, token and basic-auth credentials.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// Default system client configuration file.
pub const CLIENT_CONF: &str = "/etc/linstor/linstor-client.conf";
/// Well-known bearer token file.
pub const AUTH_JSON: &str = "/var/lib/linstor.d/auth.json";

/// One controller endpoint, normalized to a base URL without trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerUrl {
    /// `http://host:3370` or `https://host:3371`.
    pub base: String,
}

impl ControllerUrl {
    /// Parse every accepted form: `host`, `host:port`, `[v6]`, `[v6]:port`, `http(s)://…`,
    /// `linstor://…` (plain HTTP, 3370) and `linstor+ssl://…` (HTTPS, 3371).
    pub fn parse(raw: &str) -> Result<Self> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(Error::Config("empty controller address".into()));
        }
        let (scheme, rest) = match s.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("linstor".to_string(), s),
        };
        let (http_scheme, default_port) = match scheme.as_str() {
            "linstor" | "http" => ("http", 3370),
            "linstor+ssl" | "https" => ("https", 3371),
            other => {
                return Err(Error::Config(format!(
                    "controller '{raw}': unknown scheme '{other}://' (use http://, https://, linstor:// or linstor+ssl://)"
                )))
            }
        };
        let hostport = rest.trim_end_matches('/');
        if hostport.contains('/') || hostport.contains('?') || hostport.contains('@') {
            return Err(Error::Config(format!(
                "controller '{raw}': expected host[:port], found a path, query or user part"
            )));
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or_else(|| {
                Error::Config(format!(
                    "controller '{raw}': unterminated IPv6 address (missing ']')"
                ))
            })?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| {
                    Error::Config(format!("controller '{raw}': expected ':port' after ']'"))
                })?),
            };
            (format!("[{addr}]"), port)
        } else if hostport.matches(':').count() > 1 {
            (format!("[{hostport}]"), None)
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(Error::Config(format!(
                "controller '{raw}': missing host name"
            )));
        }
        let port = match port {
            None => default_port,
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                Error::Config(format!(
                    "controller '{raw}': port '{p}' is not a number 1-65535"
                ))
            })?,
        };
        Ok(Self {
            base: format!("{http_scheme}://{host}:{port}"),
        })
    }

    /// True for HTTPS.
    pub fn is_https(&self) -> bool {
        self.base.starts_with("https://")
    }
}

/// Parse a comma (or whitespace) separated controller list.
pub fn parse_controller_list(list: &str) -> Result<Vec<ControllerUrl>> {
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.trim().is_empty())
        .map(ControllerUrl::parse)
        .collect()
}

/// HTTP basic authentication, used by LINSTOR controllers with LDAP enabled. Only ever sent over
/// HTTPS; its `Debug` output never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// User name (no `:`, RFC 7617).
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &REDACTED)
            .finish()
    }
}

impl BasicAuth {
    /// Credentials from a user name and password as a frontend reads them; `keys` are the names
    /// of the two settings, used in errors. Both empty or absent: no basic auth. One without the
    /// other, or a user name with `:`, is a configuration error.
    pub fn from_parts(
        username: Option<&str>,
        password: Option<&str>,
        keys: (&str, &str),
    ) -> Result<Option<Self>> {
        let username = username.map(str::trim).filter(|u| !u.is_empty());
        let password = password.filter(|p| !p.is_empty());
        match (username, password) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(Error::Config(format!(
                "{} is set but {} is empty: basic authentication needs both",
                keys.0, keys.1
            ))),
            (None, Some(_)) => Err(Error::Config(format!(
                "{} is set without {}: basic authentication needs both",
                keys.1, keys.0
            ))),
            (Some(u), Some(_)) if u.contains(':') => Err(Error::Config(format!(
                "{} must not contain ':' (HTTP basic authentication cannot carry it)",
                keys.0
            ))),
            (Some(u), Some(p)) => Ok(Some(Self {
                username: u.to_string(),
                password: p.to_string(),
            })),
        }
    }
}

/// Everything a [`crate::client::Client`] needs. Its `Debug` output never shows the token or
/// the password.
#[derive(Clone)]
pub struct ClientConfig {
    /// Controllers in the order they are tried.
    pub controllers: Vec<ControllerUrl>,
    /// CA bundle to verify HTTPS controllers with (system roots otherwise).
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM).
    pub client_cert: Option<PathBuf>,
    /// Client key (PEM).
    pub client_key: Option<PathBuf>,
    /// Bearer token.
    pub token: Option<String>,
    /// HTTP basic authentication; sent instead of the token when both are set.
    pub basic_auth: Option<BasicAuth>,
    /// Skip certificate verification (only when explicitly asked).
    pub insecure: bool,
    /// TCP connect timeout per controller.
    pub connect_timeout: Duration,
    /// Bound of a read (look-up, list, size info) on one controller; when it expires the next
    /// controller is asked at once.
    pub request_timeout: Duration,
    /// Bound of a mutating call on the controller that took it; when it expires the call
    /// may have been carried out ([`crate::Error::Timeout`]), and a retry converges.
    pub mutate_timeout: Duration,
    /// Where the last good controller and the known-silent controllers are remembered.
    pub state_dir: Option<PathBuf>,
    /// How long a read of a data-plane call waits on a controller while every controller is
    /// known silent (it is still sent, so a recovered controller is noticed).
    pub silent_grace: Duration,
    /// How long a controller that let its bound pass stays known silent (unless it answers).
    pub silent_hold_off: Duration,
}

/// Default [`ClientConfig::request_timeout`]: a read on one controller.
pub const DEFAULT_READ_BOUND: Duration = Duration::from_secs(5);
/// Default [`ClientConfig::mutate_timeout`]: one mutating call (waits on satellites), well
/// inside Docker's two minutes for a whole call.
pub const DEFAULT_MUTATE_BOUND: Duration = Duration::from_secs(45);

/// Default [`ClientConfig::silent_grace`]: a healthy controller answers a look-up in a few
/// milliseconds, so one that recovered is still heard, and four calls of a `docker run` cost
/// well under a second while none answers.
pub const DEFAULT_SILENT_GRACE: Duration = Duration::from_millis(100);
/// Default [`ClientConfig::silent_hold_off`]: about one LINSTOR HA failover. While it lasts a
/// silent controller costs the data plane the grace only; after it one call waits the full
/// data-plane budget again (and marks it again if it still does not answer).
pub const DEFAULT_SILENT_HOLD_OFF: Duration = Duration::from_secs(30);

/// Allowed [`ClientConfig::request_timeout`] an admin may set, in seconds.
pub const READ_BOUND_RANGE: (u64, u64) = (1, 300);
/// Allowed [`ClientConfig::mutate_timeout`] an admin may set, in seconds.
pub const CHANGE_BOUND_RANGE: (u64, u64) = (5, 600);

/// Which of the two admin-settable controller bounds a setting sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundKind {
    /// [`ClientConfig::request_timeout`]: a read on one controller.
    Read,
    /// [`ClientConfig::mutate_timeout`]: one change on the controller that took it.
    Change,
}

impl BoundKind {
    /// Smallest and largest value an admin may set, in seconds.
    pub fn range(self) -> (u64, u64) {
        match self {
            Self::Read => READ_BOUND_RANGE,
            Self::Change => CHANGE_BOUND_RANGE,
        }
    }

    /// The bound when the setting is absent.
    pub fn default_bound(self) -> Duration {
        match self {
            Self::Read => DEFAULT_READ_BOUND,
            Self::Change => DEFAULT_MUTATE_BOUND,
        }
    }
}

/// Parse a bound setting named `setting`: seconds, whole or decimal (`10`, `2.5`), inside
/// [`BoundKind::range`]. Anything else is refused with the setting, the value and the range.
pub fn parse_bound(kind: BoundKind, setting: &str, raw: &str) -> Result<Duration> {
    let (min, max) = kind.range();
    let text = raw.trim();
    let well_formed = {
        let (whole, frac) = text.split_once('.').unwrap_or((text, "0"));
        !whole.is_empty()
            && !frac.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
    };
    let secs = text
        .parse::<f64>()
        .ok()
        .filter(|s| well_formed && s.is_finite());
    match secs {
        Some(s) if s >= min as f64 && s <= max as f64 => Ok(Duration::from_secs_f64(s)),
        Some(_) => Err(Error::Config(format!(
            "{setting} is '{raw}': it must be from {min} to {max} seconds"
        ))),
        None => Err(Error::Config(format!(
            "{setting} is '{raw}': use a number of seconds from {min} to {max} (whole or decimal, e.g. 10 or 2.5)"
        ))),
    }
}

/// How a frontend names its two bound settings, for its errors and hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundNames {
    /// The read bound's setting (e.g. `LINSTOR_READ_TIMEOUT`).
    pub read: &'static str,
    /// The change bound's setting.
    pub change: &'static str,
}

impl BoundNames {
    /// The setting of `kind`.
    pub fn of(&self, kind: BoundKind) -> &'static str {
        match kind {
            BoundKind::Read => self.read,
            BoundKind::Change => self.change,
        }
    }

    /// What to tell an admin after a call of `kind` let its bound pass: the setting to raise
    /// when the controller is only slow, and its range.
    pub fn raise_hint(&self, kind: BoundKind) -> String {
        let (min, max) = kind.range();
        format!(
            "if the controller is only slow, raise {} (seconds, {min} to {max}; default {})",
            self.of(kind),
            kind.default_bound().as_secs()
        )
    }

    /// [`BoundNames::raise_hint`] for an [`Error::Timeout`]: a change's when it may have been
    /// carried out, a read's otherwise. `None` for any other error and for waits no bound
    /// setting decides: the data-plane budget ([`crate::volume::DATA_PLANE_BUDGET`]), the
    /// known-silent grace, a clone's wait (each outside the setting's range, or exactly the
    /// budget, so a read bound set to 1.5 s gets no hint).
    pub fn timeout_hint(&self, err: &Error) -> Option<String> {
        let Error::Timeout {
            seconds,
            may_have_been_carried_out,
            ..
        } = err
        else {
            return None;
        };
        let kind = if *may_have_been_carried_out {
            BoundKind::Change
        } else {
            BoundKind::Read
        };
        let (min, max) = kind.range();
        let budget = (kind == BoundKind::Read
            && (*seconds - crate::volume::DATA_PLANE_BUDGET.as_secs_f64()).abs() < 1e-3)
            || *seconds < min as f64
            || *seconds > max as f64;
        (!budget).then(|| self.raise_hint(kind))
    }
}

/// Stands in for a secret in `Debug` output.
pub const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("controllers", &self.controllers)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("token", &self.token.as_ref().map(|_| REDACTED))
            .field("basic_auth", &self.basic_auth)
            .field("insecure", &self.insecure)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("mutate_timeout", &self.mutate_timeout)
            .field("state_dir", &self.state_dir)
            .field("silent_grace", &self.silent_grace)
            .field("silent_hold_off", &self.silent_hold_off)
            .finish()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            controllers: vec![ControllerUrl {
                base: "http://localhost:3370".into(),
            }],
            ca_file: None,
            client_cert: None,
            client_key: None,
            token: None,
            basic_auth: None,
            insecure: false,
            connect_timeout: Duration::from_secs(1),
            request_timeout: DEFAULT_READ_BOUND,
            mutate_timeout: DEFAULT_MUTATE_BOUND,
            state_dir: None,
            silent_grace: DEFAULT_SILENT_GRACE,
            silent_hold_off: DEFAULT_SILENT_HOLD_OFF,
        }
    }
}

/// Where discovery reads from; tests point these elsewhere. `Debug` never shows the password.
#[derive(Clone)]
pub struct Sources {
    /// Value of `LS_CONTROLLERS`.
    pub ls_controllers: Option<String>,
    /// Value of `LS_USERNAME` (basic auth).
    pub ls_username: Option<String>,
    /// Value of `LS_PASSWORD` (basic auth).
    pub ls_password: Option<String>,
    /// The linstor-client.conf to read.
    pub client_conf: PathBuf,
    /// The auth.json token file.
    pub auth_json: PathBuf,
}

/// Environment variable naming another token file (golinstor's name for it).
pub const TOKEN_FILE_ENV: &str = "LS_BEARER_TOKEN_FILE";

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("ls_controllers", &self.ls_controllers)
            .field("ls_username", &self.ls_username)
            .field("ls_password", &self.ls_password.as_ref().map(|_| REDACTED))
            .field("client_conf", &self.client_conf)
            .field("auth_json", &self.auth_json)
            .finish()
    }
}

impl Sources {
    /// The real environment and system paths; `LS_BEARER_TOKEN_FILE`, when set and not empty,
    /// replaces the well-known token file.
    pub fn system() -> Self {
        Self {
            ls_controllers: std::env::var("LS_CONTROLLERS").ok(),
            ls_username: std::env::var("LS_USERNAME").ok(),
            ls_password: std::env::var("LS_PASSWORD").ok(),
            client_conf: PathBuf::from(CLIENT_CONF),
            auth_json: std::env::var_os(TOKEN_FILE_ENV)
                .filter(|p| !p.is_empty())
                .map_or_else(|| PathBuf::from(AUTH_JSON), PathBuf::from),
        }
    }
}

/// Read `[global] controllers=` (and TLS keys) from a linstor-client.conf.
fn client_conf(path: &Path) -> Result<Option<ini::Ini>> {
    if !path.exists() {
        return Ok(None);
    }
    ini::Ini::load_from_file(path)
        .map(Some)
        .map_err(|e| Error::ConfigSource {
            what: format!("cannot parse {}", path.display()),
            source: e.into(),
        })
}

/// Read the token of an auth.json file (`{"token": "..."}` or raw text).
pub fn read_token_file(path: &Path) -> Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::ConfigSource {
                what: format!("cannot read {}", path.display()),
                source: e.into(),
            })
        }
    };
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        let v: serde_json::Value =
            serde_json::from_str(trimmed).map_err(|e| Error::ConfigSource {
                what: format!("{} is not valid JSON", path.display()),
                source: e.into(),
            })?;
        return v
            .get("token")
            .and_then(|t| t.as_str())
            .map(|t| Some(t.to_string()))
            .ok_or_else(|| Error::Config(format!("{} has no \"token\" string", path.display())));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
}

/// A frontend's own client settings (Proxmox storage options, OpenNebula datastore attributes,
/// the Docker plugin's file and `LS_*` environment), laid over what discovery finds. Every field
/// left `None` keeps the discovered value. Its `Debug` output never shows the token or password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Overlay {
    /// Controller list (comma or whitespace separated); replaces `LS_CONTROLLERS` and
    /// `linstor-client.conf`.
    pub controllers: Option<String>,
    /// CA bundle.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM).
    pub client_cert: Option<PathBuf>,
    /// Client key (PEM).
    pub client_key: Option<PathBuf>,
    /// Bearer token, when the frontend already read it; otherwise the token file of [`Sources`].
    pub token: Option<String>,
    /// HTTP basic auth user name; replaces `LS_USERNAME`/`LS_PASSWORD` of [`Sources`] when this
    /// or [`Overlay::password`] is set.
    pub username: Option<String>,
    /// HTTP basic auth password; see [`Overlay::username`].
    pub password: Option<String>,
    /// How the frontend names its user name and password settings, for errors (default
    /// `LS_USERNAME`, `LS_PASSWORD`).
    pub auth_keys: Option<(&'static str, &'static str)>,
    /// Where the last good controller is remembered.
    pub state_dir: Option<PathBuf>,
    /// The read bound as the admin wrote it ([`parse_bound`]); `None` or blank keeps
    /// [`DEFAULT_READ_BOUND`].
    pub read_timeout: Option<String>,
    /// The change bound as the admin wrote it; `None` or blank keeps [`DEFAULT_MUTATE_BOUND`].
    pub change_timeout: Option<String>,
    /// How the frontend names the two bound settings, for errors (default `read_timeout`,
    /// `change_timeout`).
    pub bound_names: Option<BoundNames>,
}

/// [`Overlay::bound_names`] when a frontend gives none.
pub const DEFAULT_BOUND_NAMES: BoundNames = BoundNames {
    read: "read_timeout",
    change: "change_timeout",
};

impl Overlay {
    /// Only a controller list (e.g. a `--controllers` option); `None` or blank keeps discovery's.
    pub fn controllers(list: Option<&str>) -> Self {
        Self {
            controllers: list.map(str::to_string),
            ..Self::default()
        }
    }
}

impl std::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("controllers", &self.controllers)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("token", &self.token.as_ref().map(|_| REDACTED))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .field("auth_keys", &self.auth_keys)
            .field("state_dir", &self.state_dir)
            .field("read_timeout", &self.read_timeout)
            .field("change_timeout", &self.change_timeout)
            .field("bound_names", &self.bound_names)
            .finish()
    }
}

impl ClientConfig {
    /// Build the configuration: built-in default < `linstor-client.conf` < `LS_CONTROLLERS` <
    /// the frontend's `overlay`. The token is the overlay's, else the one of the token file; basic
    /// auth the overlay's user name and password when it sets either, else `LS_USERNAME`/
    /// `LS_PASSWORD`. With a token or a password, [`crate::client::Client::new`] refuses
    /// plain-HTTP controllers rather than leaking it.
    pub fn discover(overlay: &Overlay, sources: &Sources) -> Result<Self> {
        let mut cfg = Self::default();
        if let Some(conf) = client_conf(&sources.client_conf)? {
            if let Some(global) = conf.section(Some("global")) {
                if let Some(list) = global.get("controllers") {
                    cfg.controllers = parse_controller_list(list)?;
                }
                cfg.ca_file = global.get("cafile").map(PathBuf::from);
                cfg.client_cert = global.get("certfile").map(PathBuf::from);
                cfg.client_key = global.get("keyfile").map(PathBuf::from);
            }
        }
        if let Some(list) = sources
            .ls_controllers
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            cfg.controllers = parse_controller_list(list)?;
        }
        if let Some(list) = overlay
            .controllers
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            cfg.controllers = parse_controller_list(list)?;
        }
        if cfg.controllers.is_empty() {
            return Err(Error::Config("the controller list is empty".into()));
        }
        if let Some(p) = &overlay.ca_file {
            cfg.ca_file = Some(p.clone());
        }
        if let Some(p) = &overlay.client_cert {
            cfg.client_cert = Some(p.clone());
        }
        if let Some(p) = &overlay.client_key {
            cfg.client_key = Some(p.clone());
        }
        cfg.token = match &overlay.token {
            Some(t) => Some(t.clone()),
            None => read_token_file(&sources.auth_json)?,
        };
        cfg.basic_auth = if overlay.username.is_some() || overlay.password.is_some() {
            BasicAuth::from_parts(
                overlay.username.as_deref(),
                overlay.password.as_deref(),
                overlay.auth_keys.unwrap_or(("LS_USERNAME", "LS_PASSWORD")),
            )?
        } else {
            BasicAuth::from_parts(
                sources.ls_username.as_deref(),
                sources.ls_password.as_deref(),
                ("LS_USERNAME", "LS_PASSWORD"),
            )?
        };
        cfg.state_dir = overlay.state_dir.clone();
        let names = overlay.bound_names.unwrap_or(DEFAULT_BOUND_NAMES);
        fn setting(raw: &Option<String>) -> Option<&str> {
            raw.as_deref().filter(|s| !s.trim().is_empty())
        }
        if let Some(raw) = setting(&overlay.read_timeout) {
            cfg.request_timeout = parse_bound(BoundKind::Read, names.read, raw)?;
        }
        if let Some(raw) = setting(&overlay.change_timeout) {
            cfg.mutate_timeout = parse_bound(BoundKind::Change, names.change, raw)?;
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_url_form() {
        let cases = [
            ("ctrl", "http://ctrl:3370"),
            ("ctrl:4000", "http://ctrl:4000"),
            ("[fe80::1]:3370", "http://[fe80::1]:3370"),
            ("[::1]", "http://[::1]:3370"),
            ("::1", "http://[::1]:3370"),
            ("http://a", "http://a:3370"),
            ("https://a", "https://a:3371"),
            ("https://a:443/", "https://a:443"),
            ("linstor://a", "http://a:3370"),
            ("linstor+ssl://a", "https://a:3371"),
            ("LINSTOR+SSL://a:1", "https://a:1"),
        ];
        for (raw, want) in cases {
            assert_eq!(ControllerUrl::parse(raw).unwrap().base, want, "{raw}");
        }
    }

    #[test]
    fn rejects_bad_urls_with_a_reason() {
        for (raw, needle) in [
            ("ftp://a", "unknown scheme"),
            ("a:99999", "port"),
            ("a:x", "port"),
            ("[::1", "IPv6"),
            ("http://a/path", "path"),
            ("", "empty"),
        ] {
            let err = ControllerUrl::parse(raw).unwrap_err().to_string();
            assert!(err.contains(needle), "{raw}: {err}");
        }
    }

    #[test]
    fn discovery_priority() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("linstor-client.conf");
        std::fs::write(&conf, "[global]\ncontrollers = c1,c2:4000\n").unwrap();
        let mut src = Sources {
            ls_controllers: None,
            ls_username: None,
            ls_password: None,
            client_conf: conf,
            auth_json: dir.path().join("missing.json"),
        };
        let cfg = ClientConfig::discover(&Overlay::default(), &src).unwrap();
        assert_eq!(
            cfg.controllers
                .iter()
                .map(|c| c.base.as_str())
                .collect::<Vec<_>>(),
            ["http://c1:3370", "http://c2:4000"]
        );
        src.ls_controllers = Some("linstor+ssl://e1".into());
        let cfg = ClientConfig::discover(&Overlay::default(), &src).unwrap();
        assert_eq!(cfg.controllers[0].base, "https://e1:3371");
        let cfg = ClientConfig::discover(&Overlay::controllers(Some("x1, x2")), &src).unwrap();
        assert_eq!(cfg.controllers.len(), 2);
        assert_eq!(cfg.token, None);
        let none = Sources {
            ls_controllers: None,
            ls_username: None,
            ls_password: None,
            client_conf: dir.path().join("nope"),
            auth_json: dir.path().join("nope.json"),
        };
        assert_eq!(
            ClientConfig::discover(&Overlay::default(), &none)
                .unwrap()
                .controllers[0]
                .base,
            "http://localhost:3370"
        );
    }

    #[test]
    fn overlay_fields_replace_the_discovered_ones_and_none_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("linstor-client.conf");
        std::fs::write(
            &conf,
            "[global]\ncontrollers = c1\ncafile = /conf/ca.pem\ncertfile = /conf/c.pem\nkeyfile = /conf/k.pem\n",
        )
        .unwrap();
        let auth = dir.path().join("auth.json");
        std::fs::write(&auth, r#"{"token": "from-file"}"#).unwrap();
        let src = Sources {
            ls_controllers: None,
            ls_username: Some("env-user".into()),
            ls_password: Some("env-pw".into()),
            client_conf: conf,
            auth_json: auth,
        };
        let cfg = ClientConfig::discover(&Overlay::default(), &src).unwrap();
        assert_eq!(
            cfg.basic_auth.as_ref().map(|b| b.username.as_str()),
            Some("env-user")
        );
        assert_eq!(cfg.ca_file, Some(PathBuf::from("/conf/ca.pem")));
        assert_eq!(cfg.client_key, Some(PathBuf::from("/conf/k.pem")));
        assert_eq!(cfg.token.as_deref(), Some("from-file"));
        assert_eq!(cfg.state_dir, None);
        let overlay = Overlay {
            controllers: Some("linstor+ssl://o1 o2".into()),
            ca_file: Some("/o/ca.pem".into()),
            client_cert: Some("/o/c.pem".into()),
            client_key: None,
            token: Some("from-overlay".into()),
            username: Some("overlay-user".into()),
            password: Some("overlay-pw".into()),
            auth_keys: None,
            state_dir: Some("/var/cache/x".into()),
            read_timeout: Some("12.5".into()),
            change_timeout: Some(" 90 ".into()),
            bound_names: None,
        };
        let cfg = ClientConfig::discover(&overlay, &src).unwrap();
        assert_eq!(
            cfg.basic_auth.as_ref().map(|b| b.username.as_str()),
            Some("overlay-user")
        );
        assert_eq!(
            cfg.controllers
                .iter()
                .map(|c| c.base.as_str())
                .collect::<Vec<_>>(),
            ["https://o1:3371", "http://o2:3370"]
        );
        assert_eq!(cfg.ca_file, Some(PathBuf::from("/o/ca.pem")));
        assert_eq!(cfg.client_cert, Some(PathBuf::from("/o/c.pem")));
        assert_eq!(cfg.client_key, Some(PathBuf::from("/conf/k.pem")));
        assert_eq!(cfg.token.as_deref(), Some("from-overlay"));
        assert_eq!(cfg.state_dir, Some(PathBuf::from("/var/cache/x")));
        assert_eq!(cfg.request_timeout, Duration::from_millis(12_500));
        assert_eq!(cfg.mutate_timeout, Duration::from_secs(90));
    }

    #[test]
    fn bounds_default_when_absent_or_blank() {
        let src = Sources {
            ls_controllers: None,
            ls_username: None,
            ls_password: None,
            client_conf: PathBuf::from("/nonexistent/linstor-client.conf"),
            auth_json: PathBuf::from("/nonexistent/auth.json"),
        };
        for overlay in [
            Overlay::default(),
            Overlay {
                read_timeout: Some(" ".into()),
                change_timeout: Some(String::new()),
                ..Overlay::default()
            },
        ] {
            let cfg = ClientConfig::discover(&overlay, &src).unwrap();
            assert_eq!(
                (cfg.request_timeout, cfg.mutate_timeout),
                (DEFAULT_READ_BOUND, DEFAULT_MUTATE_BOUND)
            );
        }
        let names = BoundNames {
            read: "LINSTOR_READ_TIMEOUT",
            change: "LINSTOR_CHANGE_TIMEOUT",
        };
        let bad = Overlay {
            change_timeout: Some("700".into()),
            bound_names: Some(names),
            ..Overlay::default()
        };
        let err = ClientConfig::discover(&bad, &src).unwrap_err().to_string();
        assert_eq!(
            err,
            "configuration error: LINSTOR_CHANGE_TIMEOUT is '700': it must be from 5 to 600 seconds"
        );
    }

    #[test]
    fn bound_values_parse_in_range_and_are_refused_with_setting_value_and_range() {
        for (kind, raw, want_ms) in [
            (BoundKind::Read, "1", 1_000),
            (BoundKind::Read, "2.5", 2_500),
            (BoundKind::Read, " 300 ", 300_000),
            (BoundKind::Read, "0.999e3", 0),
            (BoundKind::Change, "5", 5_000),
            (BoundKind::Change, "600.0", 600_000),
            (BoundKind::Change, "45", 45_000),
        ] {
            let got = parse_bound(kind, "x", raw);
            if want_ms == 0 {
                assert!(got.is_err(), "{raw}");
            } else {
                assert_eq!(got.unwrap(), Duration::from_millis(want_ms), "{raw}");
            }
        }
        for (kind, raw, range) in [
            (BoundKind::Read, "0.5", "1 to 300"),
            (BoundKind::Read, "301", "1 to 300"),
            (BoundKind::Read, "0", "1 to 300"),
            (BoundKind::Change, "4.9", "5 to 600"),
            (BoundKind::Change, "601", "5 to 600"),
        ] {
            let err = parse_bound(kind, "readtimeout", raw)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("readtimeout is '{raw}'")) && err.contains(range),
                "{raw}: {err}"
            );
        }
        for raw in [
            "", "abc", "-3", "+3", "1e2", "inf", "NaN", "10s", "1.", ".5", "1.2.3", "5 s",
        ] {
            let err = parse_bound(BoundKind::Read, "--read-timeout", raw)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("--read-timeout is '{raw}'"))
                    && err.contains("seconds from 1 to 300"),
                "{raw}: {err}"
            );
        }
    }

    #[test]
    fn timeout_hint_names_the_setting_of_the_call_and_only_for_a_settable_wait() {
        let names = BoundNames {
            read: "readtimeout",
            change: "changetimeout",
        };
        let timeout = |seconds: f64, change: bool| Error::Timeout {
            tried: vec!["http://c:3370".into()],
            seconds,
            may_have_been_carried_out: change,
        };
        assert_eq!(
            names.timeout_hint(&timeout(5.0, false)).as_deref(),
            Some(
                "if the controller is only slow, raise readtimeout (seconds, 1 to 300; default 5)"
            )
        );
        assert_eq!(
            names.timeout_hint(&timeout(24.0, true)).as_deref(),
            Some(
                "if the controller is only slow, raise changetimeout (seconds, 5 to 600; default 45)"
            )
        );
        for (seconds, change, what) in [
            (0.1, false, "the known-silent grace"),
            (1.5, false, "the data-plane budget"),
            (3600.0, true, "a clone's wait"),
        ] {
            assert_eq!(
                names.timeout_hint(&timeout(seconds, change)),
                None,
                "{what}"
            );
        }
        assert_eq!(
            names.timeout_hint(&Error::Config("x".into())),
            None,
            "not a timeout"
        );
    }

    #[test]
    fn overlay_debug_hides_token_and_password() {
        let o = Overlay {
            token: Some("tok-1a2b".into()),
            username: Some("admin".into()),
            password: Some("pw-3c4d".into()),
            ..Overlay::default()
        };
        let text = format!("{o:?}");
        assert!(
            !text.contains("tok-1a2b") && !text.contains("pw-3c4d"),
            "{text}"
        );
        assert!(text.contains("admin"), "{text}");
    }

    #[test]
    fn token_file_forms() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("auth.json");
        std::fs::write(&f, r#"{"token": "abc"}"#).unwrap();
        assert_eq!(read_token_file(&f).unwrap().as_deref(), Some("abc"));
        std::fs::write(&f, "raw-token\n").unwrap();
        assert_eq!(read_token_file(&f).unwrap().as_deref(), Some("raw-token"));
        std::fs::write(&f, r#"{"nope": 1}"#).unwrap();
        assert!(read_token_file(&f).is_err());
    }

    #[test]
    fn debug_output_hides_the_token() {
        let cfg = ClientConfig {
            token: Some("tok-9f8e7d".into()),
            ..ClientConfig::default()
        };
        let text = format!("{cfg:?}");
        assert!(!text.contains("tok-9f8e7d"), "{text}");
        assert!(text.contains(REDACTED), "{text}");
    }

    #[test]
    fn basic_auth_needs_both_parts_and_hides_the_password() {
        let keys = ("LS_USERNAME", "LS_PASSWORD");
        assert_eq!(BasicAuth::from_parts(None, None, keys).unwrap(), None);
        assert_eq!(
            BasicAuth::from_parts(Some(" "), Some(""), keys).unwrap(),
            None
        );
        let b = BasicAuth::from_parts(Some("alice"), Some("pw-5c1d"), keys)
            .unwrap()
            .unwrap();
        assert_eq!(
            (b.username.as_str(), b.password.as_str()),
            ("alice", "pw-5c1d")
        );
        let err = BasicAuth::from_parts(Some("alice"), None, keys)
            .unwrap_err()
            .to_string();
        assert!(err.contains("LS_PASSWORD is empty"), "{err}");
        let err = BasicAuth::from_parts(None, Some("x"), keys)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("LS_PASSWORD is set without LS_USERNAME"),
            "{err}"
        );
        let err = BasicAuth::from_parts(Some("a:b"), Some("x"), keys)
            .unwrap_err()
            .to_string();
        assert!(err.contains("':'"), "{err}");
        let src = Sources {
            ls_controllers: Some("https://c1".into()),
            ls_username: Some("alice".into()),
            ls_password: Some("pw-5c1d".into()),
            client_conf: PathBuf::from("/nonexistent/linstor-client.conf"),
            auth_json: PathBuf::from("/nonexistent/auth.json"),
        };
        let cfg = ClientConfig::discover(&Overlay::default(), &src).unwrap();
        assert_eq!(cfg.basic_auth, Some(b));
        for text in [format!("{cfg:?}"), format!("{src:?}")] {
            assert!(!text.contains("pw-5c1d"), "{text}");
            assert!(text.contains("alice") && text.contains(REDACTED), "{text}");
        }
    }
}
