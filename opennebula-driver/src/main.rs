//! `linstor-one`: the multi-call binary behind `remotes/datastore/<driver>/<action>` and
//! `remotes/tm/<driver>/<action>`. Prints the action's payload on stdout, `INFO:`/`WARN:` log
//! lines and one plain summary line on stderr, and exits as documented in [`linstor_one::error`].

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use linstor_common::config::Sources;
use linstor_one::exec::Driver;
use linstor_one::host::{HostSteps, SshHosts};
use linstor_one::oned::{Cli, OnedInfo, XmlRpc};

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

fn frontend_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINSTOR_ONE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .init();
    let mut argv = std::env::args();
    let argv0 = argv.next().unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let code = match run(&argv0, &args) {
        Ok(()) => 0,
        Err((action, e)) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}", e.summary(&action));
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn run(argv0: &str, args: &[String]) -> Result<(), (String, linstor_one::DriverError)> {
    let fallback_action = argv0
        .rsplit('/')
        .next()
        .unwrap_or("linstor-one")
        .to_string();
    let inv = linstor_one::parse(argv0, args, || {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(linstor_one::input::MAX_MESSAGE as u64 + 1)
            .read_to_end(&mut buf)?;
        Ok(buf)
    })
    .map_err(|e| (fallback_action.clone(), e.into()))?;
    let action = inv.script.clone();
    let hosts: Arc<dyn HostSteps> = Arc::new(SshHosts::from_env());
    let oned: Arc<dyn OnedInfo> = match env("LINSTOR_ONE_ONED").as_deref() {
        Some("cli") => Arc::new(Cli),
        _ => Arc::new(XmlRpc::from_env()),
    };
    let mut driver = Driver::new(
        hosts,
        oned,
        Sources::system(),
        env("LINSTOR_ONE_NODE").unwrap_or_else(frontend_name),
    );
    driver.driver_name = inv.driver.clone();
    driver.tm_dir = std::path::Path::new(argv0)
        .parent()
        .and_then(std::path::Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .map(std::path::Path::to_path_buf);
    driver.state_dir = Some(PathBuf::from(
        env("LINSTOR_ONE_STATE_DIR").unwrap_or_else(|| "/var/tmp/one/linstor".into()),
    ));
    driver.lock_dir = PathBuf::from(
        env("LINSTOR_ONE_LOCK_DIR").unwrap_or_else(|| "/var/lock/one/linstor".into()),
    );
    if let Some(s) = env("LINSTOR_ONE_DEVICE_TIMEOUT").and_then(|s| s.parse().ok()) {
        driver.device_timeout = Duration::from_secs(s);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            (
                action.clone(),
                linstor_one::DriverError::Usage(format!("cannot start the runtime: {e}")),
            )
        })?;
    let result = rt.block_on(driver.run(inv.action));
    {
        let mut err = std::io::stderr().lock();
        for w in driver
            .warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(err, "WARN: {action}: {}", w.replace('\n', " "));
        }
    }
    let out = result.map_err(|e| (action.clone(), e))?;
    if !out.is_empty() {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{out}");
        let _ = o.flush();
    }
    Ok(())
}
