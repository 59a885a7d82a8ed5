//! The shipped install layouts (the Debian package's `packaging/build-debs.sh` and
//! `install-remotes.sh`) link every action the driver implements, and no other.

use std::path::Path;

use linstor_one::input::{DsKind, TM_ACTIONS};

/// The words of the `var="…"` line of a shell script.
fn words<'a>(script: &'a str, var: &str) -> Vec<&'a str> {
    let prefix = format!("{var}=\"");
    let line = script
        .lines()
        .find_map(|l| l.trim().strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {var}=\"…\" line"));
    line.trim_end_matches('"').split_whitespace().collect()
}

#[test]
fn shipped_layouts_link_every_action() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ds: Vec<&str> = DsKind::ALL.iter().map(|(_, name)| *name).collect();
    for script in ["../packaging/build-debs.sh", "install-remotes.sh"] {
        let text = std::fs::read_to_string(root.join(script)).unwrap();
        assert_eq!(words(&text, "ds_actions"), ds, "{script}");
        assert_eq!(words(&text, "tm_actions"), TM_ACTIONS, "{script}");
    }
}
