//! `linstor-pve <method>`: the helper the Perl module `PVE::Storage::Custom::LINSTORPlugin` runs
//! once per plugin method. JSON on stdin, JSON on stdout; on failure `{"error": {...}}` on stdout,
//! the message on stderr and a non-zero exit status.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use linstor_pve::{exec, parse, Failure, PveError};
use tracing_subscriber::EnvFilter;

/// Proxmox VE storage plugin helper for LINSTOR (JSON in, JSON out).
#[derive(Debug, Parser)]
#[command(name = "linstor-pve", version)]
struct Args {
    /// Plugin method, e.g. alloc_image, activate_volume, status.
    method: String,
}

fn answer(out: &serde_json::Value) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, out)?;
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    Ok(())
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_env_filter(
            EnvFilter::try_from_env("LINSTOR_PVE_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("reading the request from stdin")?;
    let result = match parse(&args.method, &input) {
        Ok(req) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?
            .block_on(exec::execute(&req)),
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => {
            answer(&v)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(fail(&args.method, &e)?),
    }
}

fn fail(method: &str, e: &PveError) -> anyhow::Result<ExitCode> {
    let f = Failure::from(e);
    answer(&serde_json::json!({"error": f}))?;
    eprintln!("linstor-pve {method}: {}", f.message);
    Ok(ExitCode::from(u8::try_from(f.exit_code).unwrap_or(1)))
}
