//! A minimal oned XML-RPC endpoint for driving the OpenNebula driver: it answers
//! `one.datastore.info` and `one.vm.info` with the documents a test registered, and oned's own
//! "Error getting object" answer for anything else.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// The documents served, keyed by XML-RPC method and object id.
pub type Docs = Arc<Mutex<HashMap<(String, u64), String>>>;

/// Starts the stand-in on a free loopback port; returns its `http://…/RPC2` endpoint.
pub fn standin(docs: Docs) -> std::io::Result<String> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    std::thread::spawn(move || {
        for st in l.incoming() {
            let Ok(mut st) = st else { continue };
            let request = read_request(&mut st);
            let between = |a: &str, b: &str| {
                request
                    .split(a)
                    .nth(1)
                    .and_then(|r| r.split(b).next())
                    .unwrap_or("")
                    .to_string()
            };
            let method = between("<methodName>", "</methodName>");
            let id: u64 = between("<int>", "</int>").parse().unwrap_or(u64::MAX);
            let doc = docs
                .lock()
                .ok()
                .and_then(|d| d.get(&(method.clone(), id)).cloned());
            let (ok, body) = match doc {
                Some(d) => (1, d),
                None => (0, format!("[{method}] Error getting object [{id}].")),
            };
            let resp = format!(
                "<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data><value><boolean>{ok}</boolean></value><value><string>{}</string></value><value><i4>0</i4></value></data></array></value></param></params></methodResponse>",
                xml_escape(&body)
            );
            let _ = write!(st, "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{resp}", resp.len());
        }
    });
    Ok(format!("http://{addr}/RPC2"))
}

fn read_request(st: &mut std::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = st.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let t = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = t.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if body.len() >= len {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Escapes `&`, `<` and `>` for an XML text node.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
