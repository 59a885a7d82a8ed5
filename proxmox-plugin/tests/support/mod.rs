//! The real `linstor-pve` helper as the Perl module starts it, for the integration tests.

use std::path::Path;
use std::process::Command;

/// `linstor-pve <method>` with a clean environment: the Perl module's `PATH`, the status cache in
/// `cache_dir`, and `auth_json` as LINSTOR's token file (absent: no token).
pub fn helper(method: &str, cache_dir: &Path, auth_json: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linstor-pve"));
    c.arg(method)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LINSTOR_PVE_CACHE_DIR", cache_dir)
        .env("LINSTOR_PVE_AUTH_JSON", auth_json);
    c
}
