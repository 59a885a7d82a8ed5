//! `linstor-pve <method>`: the helper the Perl module `PVE::Storage::Custom::LINSTORPlugin` runs
//! for a plugin method. JSON on stdin, JSON on stdout; on failure `{"error": {...}}` on stdout,
//! the message on stderr and a non-zero exit status.
//!
//! `linstor-pve --serve`: the same, for many calls over one process (the Perl module keeps one
//! per PVE process): one request per stdin line, `{"method": ..., "input": {...}}`, one answer per
//! stdout line, `{"ok": {...}, "log": [...]}` or `{"error": {...}, "log": [...]}`; the log lines
//! of that request travel in the answer, and its cache files are written after the answer,
//! before the next request is read. It exits at the end of stdin.

use std::io::{BufRead, Read, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use clap::Parser;
use linstor_pve::exec::{self, Storages};
use linstor_pve::{parse, Failure, PveError};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Proxmox VE storage plugin helper for LINSTOR (JSON in, JSON out).
#[derive(Debug, Parser)]
#[command(name = "linstor-pve", version)]
struct Args {
    /// Plugin method, e.g. alloc_image, activate_volume, status.
    #[arg(required_unless_present = "serve")]
    method: Option<String>,
    /// Answer requests line by line until stdin ends.
    #[arg(long, conflicts_with = "method")]
    serve: bool,
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_env("LINSTOR_PVE_LOG").unwrap_or_else(|_| EnvFilter::new("warn"))
}

fn answer(out: &serde_json::Value) -> anyhow::Result<()> {
    let mut line = serde_json::to_vec(out)?;
    line.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&line)?;
    stdout.flush()?;
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    match args.method {
        Some(method) if !args.serve => once(&method),
        _ => serve(),
    }
}

fn once(method: &str) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_env_filter(filter())
        .init();
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("reading the request from stdin")?;
    let result = match parse(method, &input) {
        Ok(req) => runtime()?.block_on(exec::execute(&req)),
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => {
            answer(&v)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let f = Failure::from(&e);
            answer(&serde_json::json!({"error": f}))?;
            eprintln!("linstor-pve {method}: {}", f.message);
            Ok(ExitCode::from(u8::try_from(f.exit_code).unwrap_or(1)))
        }
    }
}

/// Log lines of the request being served.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn take(&self) -> Vec<String> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn serve() -> anyhow::Result<ExitCode> {
    let log = Captured::default();
    tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_env_filter(filter())
        .init();
    let rt = runtime()?;
    let storages = Storages::default();
    linstor_common::persist::defer();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading a request from stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let result = serve_one(&line, &rt, &storages);
        let mut out = match result {
            Ok(v) => serde_json::json!({ "ok": v }),
            Err((method, e)) => {
                let f = Failure::from(&e);
                tracing::debug!(method, kind = f.kind, "request failed");
                serde_json::json!({ "error": f })
            }
        };
        out["log"] = serde_json::json!(log.take());
        answer(&out)?;
        linstor_common::persist::flush();
    }
    Ok(ExitCode::SUCCESS)
}

fn serve_one(
    line: &str,
    rt: &tokio::runtime::Runtime,
    storages: &Storages,
) -> Result<serde_json::Value, (String, PveError)> {
    #[derive(serde::Deserialize)]
    struct Line {
        method: String,
        input: serde_json::Value,
    }
    let req: Line = serde_json::from_str(line).map_err(|e| (String::new(), PveError::Json(e)))?;
    let input = req.input.to_string();
    let parsed = parse(&req.method, input.as_bytes()).map_err(|e| (req.method.clone(), e))?;
    rt.block_on(exec::execute_with(&parsed, storages))
        .map_err(|e| (req.method, e))
}
