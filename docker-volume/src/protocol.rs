//! The Docker volume plugin protocol: request parsing into [`Request`] (pure, fuzzed) and the
//! response bodies with the exact JSON casing the engine expects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// Content type of our answers (what go-plugins-helpers sends).
pub const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.1+json";

/// One parsed plugin call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `/Plugin.Activate`.
    Activate,
    /// `/VolumeDriver.Create`; `opts` is `None` for `Opts: null` or a missing `Opts`.
    Create {
        /// Docker volume name.
        name: String,
        /// Driver options (`--opt k=v`).
        opts: Option<BTreeMap<String, String>>,
    },
    /// `/VolumeDriver.Remove`.
    Remove {
        /// Docker volume name.
        name: String,
    },
    /// `/VolumeDriver.Mount`.
    Mount {
        /// Docker volume name.
        name: String,
        /// Mount ID (empty from engines older than 1.12).
        id: String,
    },
    /// `/VolumeDriver.Unmount`.
    Unmount {
        /// Docker volume name.
        name: String,
        /// Mount ID (empty from engines older than 1.12).
        id: String,
    },
    /// `/VolumeDriver.Path`.
    Path {
        /// Docker volume name.
        name: String,
    },
    /// `/VolumeDriver.Get`.
    Get {
        /// Docker volume name.
        name: String,
    },
    /// `/VolumeDriver.List`.
    List,
    /// `/VolumeDriver.Capabilities`.
    Capabilities,
}

impl Request {
    /// The volume the call is about, if any.
    pub fn volume(&self) -> Option<&str> {
        match self {
            Request::Create { name, .. }
            | Request::Remove { name }
            | Request::Mount { name, .. }
            | Request::Unmount { name, .. }
            | Request::Path { name }
            | Request::Get { name } => Some(name),
            Request::Activate | Request::List | Request::Capabilities => None,
        }
    }
}

/// A request the plugin cannot understand.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The path is not a plugin method.
    #[error("unknown plugin method '{0}': this plugin implements /Plugin.Activate and /VolumeDriver.{{Create,Remove,Mount,Unmount,Path,Get,List,Capabilities}}")]
    UnknownMethod(String),
    /// The body is JSON, but not an object.
    #[error("{method}: the request body is not a JSON object (found {found})")]
    NotObject {
        /// The method.
        method: &'static str,
        /// What it is instead, e.g. `a string`.
        found: &'static str,
    },
    /// The body is not JSON.
    #[error("{method}: the request body is not a JSON object")]
    BadJson {
        /// The method.
        method: &'static str,
        /// The decoder's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A field is missing or has the wrong type.
    #[error("{method}: {problem}")]
    BadField {
        /// The method.
        method: &'static str,
        /// What was wrong.
        problem: String,
    },
    /// The body is larger than [`MAX_BODY`].
    #[error("request body of {0} bytes is larger than the 1 MiB limit")]
    TooLarge(usize),
}

fn object(method: &'static str, body: &[u8]) -> Result<serde_json::Map<String, Value>, ParseError> {
    if body.len() > MAX_BODY {
        return Err(ParseError::TooLarge(body.len()));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(serde_json::Map::new()),
        Ok(other) => Err(ParseError::NotObject {
            method,
            found: kind(&other),
        }),
        Err(source) => Err(ParseError::BadJson { method, source }),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_field(
    method: &'static str,
    m: &serde_json::Map<String, Value>,
    key: &str,
    required: bool,
) -> Result<String, ParseError> {
    match m.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) if !required => Ok(String::new()),
        None | Some(Value::Null) => Err(ParseError::BadField {
            method,
            problem: format!("the \"{key}\" field is missing"),
        }),
        Some(other) => Err(ParseError::BadField {
            method,
            problem: format!("\"{key}\" must be a string, found {}", kind(other)),
        }),
    }
}

fn name_field(
    method: &'static str,
    m: &serde_json::Map<String, Value>,
) -> Result<String, ParseError> {
    let name = string_field(method, m, "Name", true)?;
    if name.is_empty() {
        return Err(ParseError::BadField {
            method,
            problem: "\"Name\" is empty".into(),
        });
    }
    Ok(name)
}

fn opts_field(
    method: &'static str,
    m: &serde_json::Map<String, Value>,
) -> Result<Option<BTreeMap<String, String>>, ParseError> {
    match m.get("Opts") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => {
            let mut out = BTreeMap::new();
            for (k, v) in o {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    other => {
                        return Err(ParseError::BadField {
                            method,
                            problem: format!(
                                "option \"{k}\" must be a string, found {}",
                                kind(other)
                            ),
                        })
                    }
                };
                out.insert(k.clone(), s);
            }
            Ok(Some(out))
        }
        Some(other) => Err(ParseError::BadField {
            method,
            problem: format!(
                "\"Opts\" must be an object of strings, found {}",
                kind(other)
            ),
        }),
    }
}

/// Parse one call from its URL path and body. Lenient as the engine needs: no Content-Type,
/// unknown fields ignored, empty bodies, `Opts: null` or missing, a missing mount `ID`.
pub fn parse_request(path: &str, body: &[u8]) -> Result<Request, ParseError> {
    let method = path.split('?').next().unwrap_or_default();
    let method = method.trim_end_matches('/');
    let method = method.strip_prefix('/').unwrap_or(method);
    Ok(match method {
        "Plugin.Activate" => {
            if body.len() > MAX_BODY {
                return Err(ParseError::TooLarge(body.len()));
            }
            Request::Activate
        }
        "VolumeDriver.Create" => {
            let m = object("Create", body)?;
            Request::Create {
                name: name_field("Create", &m)?,
                opts: opts_field("Create", &m)?,
            }
        }
        "VolumeDriver.Remove" => Request::Remove {
            name: name_field("Remove", &object("Remove", body)?)?,
        },
        "VolumeDriver.Mount" => {
            let m = object("Mount", body)?;
            Request::Mount {
                name: name_field("Mount", &m)?,
                id: string_field("Mount", &m, "ID", false)?,
            }
        }
        "VolumeDriver.Unmount" => {
            let m = object("Unmount", body)?;
            Request::Unmount {
                name: name_field("Unmount", &m)?,
                id: string_field("Unmount", &m, "ID", false)?,
            }
        }
        "VolumeDriver.Path" => Request::Path {
            name: name_field("Path", &object("Path", body)?)?,
        },
        "VolumeDriver.Get" => Request::Get {
            name: name_field("Get", &object("Get", body)?)?,
        },
        "VolumeDriver.List" => {
            object("List", body)?;
            Request::List
        }
        "VolumeDriver.Capabilities" => {
            object("Capabilities", body)?;
            Request::Capabilities
        }
        other => return Err(ParseError::UnknownMethod(other.chars().take(100).collect())),
    })
}

/// A volume as reported by Get and List.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// Docker volume name.
    #[serde(rename = "Name")]
    pub name: String,
    /// Mountpoint on this node, `""` when not mounted here.
    #[serde(rename = "Mountpoint")]
    pub mountpoint: String,
    /// RFC 3339 creation time; omitted when unknown (never `""`).
    #[serde(rename = "CreatedAt", skip_serializing_if = "Option::is_none", default)]
    pub created_at: Option<String>,
    /// Free-form status shown by `docker volume inspect`.
    #[serde(rename = "Status", skip_serializing_if = "Option::is_none", default)]
    pub status: Option<serde_json::Map<String, Value>>,
}

/// The answer to one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// Activate.
    Implements,
    /// Create, Remove, Unmount.
    Empty,
    /// Mount, Path.
    Mountpoint(String),
    /// Get.
    Volume(Volume),
    /// List.
    Volumes(Vec<Volume>),
    /// Capabilities.
    Capabilities,
    /// Any failure.
    Err(String),
}

impl Response {
    /// The JSON body.
    pub fn to_json(&self) -> Value {
        match self {
            Response::Implements => serde_json::json!({"Implements": ["VolumeDriver"]}),
            Response::Empty => serde_json::json!({"Err": ""}),
            Response::Mountpoint(p) => serde_json::json!({"Mountpoint": p, "Err": ""}),
            Response::Volume(v) => serde_json::json!({"Volume": v, "Err": ""}),
            Response::Volumes(vs) => serde_json::json!({"Volumes": vs, "Err": ""}),
            Response::Capabilities => serde_json::json!({"Capabilities": {"Scope": "global"}}),
            Response::Err(e) => serde_json::json!({"Err": e}),
        }
    }

    /// HTTP status: 500 for errors (as the plugin SDK), 200 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Response::Err(_) => 500,
            _ => 200,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &str, body: &str) -> Result<Request, ParseError> {
        parse_request(path, body.as_bytes())
    }

    #[test]
    fn activate_with_empty_or_any_body() {
        assert_eq!(p("/Plugin.Activate", "").unwrap(), Request::Activate);
        assert_eq!(p("/Plugin.Activate", "{}").unwrap(), Request::Activate);
    }

    #[test]
    fn create_with_opts_null_missing_and_map() {
        assert_eq!(
            p("/VolumeDriver.Create", "{\"Name\":\"v\",\"Opts\":null}\n").unwrap(),
            Request::Create {
                name: "v".into(),
                opts: None
            }
        );
        assert_eq!(
            p("/VolumeDriver.Create", r#"{"Name":"v"}"#).unwrap(),
            Request::Create {
                name: "v".into(),
                opts: None
            }
        );
        let r = p(
            "/VolumeDriver.Create",
            r#"{"Name":"v","Opts":{"size":"10G","replicas":"2"},"Extra":1}"#,
        )
        .unwrap();
        let Request::Create {
            opts: Some(opts), ..
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(opts["size"], "10G");
        assert_eq!(opts["replicas"], "2");
        let r = p("/VolumeDriver.Create", r#"{"Name":"v","Opts":{}}"#).unwrap();
        assert_eq!(
            r,
            Request::Create {
                name: "v".into(),
                opts: Some(BTreeMap::new())
            }
        );
    }

    #[test]
    fn create_rejects_bad_opts() {
        let e = p("/VolumeDriver.Create", r#"{"Name":"v","Opts":["a"]}"#).unwrap_err();
        assert!(e.to_string().contains("\"Opts\" must be an object"), "{e}");
        let e = p(
            "/VolumeDriver.Create",
            r#"{"Name":"v","Opts":{"size":[1]}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("option \"size\""), "{e}");
    }

    #[test]
    fn every_named_endpoint() {
        for (path, want) in [
            ("/VolumeDriver.Remove", Request::Remove { name: "v".into() }),
            ("/VolumeDriver.Path", Request::Path { name: "v".into() }),
            ("/VolumeDriver.Get", Request::Get { name: "v".into() }),
        ] {
            assert_eq!(p(path, r#"{"Name":"v"}"#).unwrap(), want, "{path}");
            let e = p(path, "{}").unwrap_err().to_string();
            assert!(e.contains("\"Name\" field is missing"), "{path}: {e}");
            let e = p(path, r#"{"Name":""}"#).unwrap_err().to_string();
            assert!(e.contains("empty"), "{path}: {e}");
            let e = p(path, r#"{"Name":5}"#).unwrap_err().to_string();
            assert!(
                e.contains("must be a string, found a number"),
                "{path}: {e}"
            );
            let e = p(path, r#"{"Name":"v""#).unwrap_err().to_string();
            assert!(e.contains("not a JSON object"), "{path}: {e}");
        }
    }

    #[test]
    fn mount_and_unmount_ids() {
        let id = "a".repeat(64);
        let body = format!(r#"{{"Name":"v","ID":"{id}"}}"#);
        assert_eq!(
            p("/VolumeDriver.Mount", &body).unwrap(),
            Request::Mount {
                name: "v".into(),
                id: id.clone()
            }
        );
        assert_eq!(
            p("/VolumeDriver.Unmount", &body).unwrap(),
            Request::Unmount {
                name: "v".into(),
                id
            }
        );
        assert_eq!(
            p("/VolumeDriver.Mount", r#"{"Name":"v"}"#).unwrap(),
            Request::Mount {
                name: "v".into(),
                id: String::new()
            }
        );
        let e = p("/VolumeDriver.Unmount", r#"{"Name":"v","ID":7}"#).unwrap_err();
        assert!(e.to_string().contains("\"ID\" must be a string"), "{e}");
        assert!(p("/VolumeDriver.Mount", r#"{"ID":"x"}"#).is_err());
    }

    #[test]
    fn list_and_capabilities_take_empty_objects() {
        for body in ["{}", "{}\n", "", "null"] {
            assert_eq!(p("/VolumeDriver.List", body).unwrap(), Request::List);
            assert_eq!(
                p("/VolumeDriver.Capabilities", body).unwrap(),
                Request::Capabilities
            );
        }
        assert!(p("/VolumeDriver.List", "[]").is_err());
        assert!(p("/VolumeDriver.List", "{").is_err());
    }

    #[test]
    fn malformed_and_unknown() {
        let e = p("/VolumeDriver.Get", "\"v\"").unwrap_err().to_string();
        assert!(e.contains("found a string"), "{e}");
        let e = p("/VolumeDriver.Snapshot", "{}").unwrap_err().to_string();
        assert!(
            e.contains("unknown plugin method 'VolumeDriver.Snapshot'"),
            "{e}"
        );
        let big = vec![b' '; MAX_BODY + 1];
        assert!(matches!(
            parse_request("/VolumeDriver.Get", &big),
            Err(ParseError::TooLarge(_))
        ));
        assert!(parse_request("/VolumeDriver.Get", &[0xff, 0xfe]).is_err());
    }

    #[test]
    fn undecodable_body_keeps_the_json_error() {
        let e = p("/VolumeDriver.Create", r#"{"Name":"v""#).unwrap_err();
        let json: &serde_json::Error = linstor_tests::errors::source(&e);
        assert!(json.is_eof(), "{json}");
        let shown = linstor_common::error::chain(&e);
        assert_eq!(
            linstor_tests::errors::names_once(&shown, json),
            format!("Create: the request body is not a JSON object: {json}")
        );
    }

    #[test]
    fn response_casing() {
        assert_eq!(
            Response::Implements.to_json().to_string(),
            r#"{"Implements":["VolumeDriver"]}"#
        );
        assert_eq!(
            Response::Capabilities.to_json().to_string(),
            r#"{"Capabilities":{"Scope":"global"}}"#
        );
        let v = Volume {
            name: "v".into(),
            mountpoint: String::new(),
            created_at: None,
            status: None,
        };
        let j = Response::Volume(v.clone()).to_json();
        assert_eq!(j["Volume"]["Name"], "v");
        assert!(
            j["Volume"].get("CreatedAt").is_none(),
            "never an empty CreatedAt"
        );
        assert_eq!(
            Response::Volumes(vec![v]).to_json()["Volumes"][0]["Mountpoint"],
            ""
        );
        assert_eq!(Response::Err("x".into()).status(), 500);
        assert_eq!(
            Response::Mountpoint("/m".into()).to_json()["Mountpoint"],
            "/m"
        );
    }
}
