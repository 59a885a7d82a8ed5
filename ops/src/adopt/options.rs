//! DRBD options of a hand-made resource and the LINSTOR properties that keep them.
//!
//! LINSTOR writes an option into its `.res` files when the property `DrbdOptions/<Ns>/<name>` is
//! set (`Net` for `net`, `Disk` and `PeerDevice` for `disk`, `Resource` for `options`,
//! `Handlers` for `handlers`); it checks the value against what `drbdsetup xml-help` reports
//! (numbers without unit suffix, in the option's own unit; `yes`/`no`; one of the symbols). The
//! table below is that output of drbd-utils 9.22. Options LINSTOR writes itself
//! (`cram-hmac-alg`, `shared-secret`) and sections it has no properties for (`startup`, `proxy`)
//! cannot be kept.

/// Namespace of a DRBD option property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ns {
    /// `DrbdOptions/Net` (`drbdsetup new-peer`, the `net` section).
    Net,
    /// `DrbdOptions/Disk` (`disk-options` and `new-minor`, the `disk` section).
    Disk,
    /// `DrbdOptions/PeerDevice` (`peer-device-options`, written in the `disk` section).
    PeerDevice,
    /// `DrbdOptions/Resource` (`resource-options`, the `options` section).
    Resource,
    /// `DrbdOptions/Handlers` (the `handlers` section).
    Handlers,
}

impl Ns {
    /// Property key prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Ns::Net => "DrbdOptions/Net",
            Ns::Disk => "DrbdOptions/Disk",
            Ns::PeerDevice => "DrbdOptions/PeerDevice",
            Ns::Resource => "DrbdOptions/Resource",
            Ns::Handlers => "DrbdOptions/Handlers",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Bool,
    Text,
    Symbol(&'static [&'static str]),
    /// `unit`: bytes of the option's unit (1, 512 for sectors, 1024 for KiB).
    Num {
        unit: u64,
        min: i64,
        max: i64,
    },
    NumOrSym {
        min: i64,
        max: i64,
        symbols: &'static [&'static str],
    },
}

use Kind::{Bool, Num, NumOrSym, Symbol, Text};

#[derive(Debug, Clone, Copy)]
struct Opt {
    name: &'static str,
    ns: Ns,
    kind: Kind,
}

const fn opt(name: &'static str, ns: Ns, kind: Kind) -> Opt {
    Opt { name, ns, kind }
}

/// Handlers LINSTOR accepts as `DrbdOptions/Handlers/<name>`.
const HANDLERS: [&str; 13] = [
    "after-resync-target",
    "before-resync-target",
    "before-resync-source",
    "out-of-sync",
    "quorum-lost",
    "fence-peer",
    "unfence-peer",
    "initial-split-brain",
    "local-io-error",
    "pri-lost",
    "pri-lost-after-sb",
    "pri-on-incon-degr",
    "split-brain",
];

#[rustfmt::skip]
const OPTIONS: &[Opt] = &[
    opt("on-io-error", Ns::Disk, Symbol(&["pass_on", "call-local-io-error", "detach"])),
    opt("disk-barrier", Ns::Disk, Bool),
    opt("disk-flushes", Ns::Disk, Bool),
    opt("disk-drain", Ns::Disk, Bool),
    opt("md-flushes", Ns::Disk, Bool),
    opt("resync-after", Ns::Disk, Text),
    opt("al-extents", Ns::Disk, Num { unit: 1, min: 67, max: 65534 }),
    opt("al-updates", Ns::Disk, Bool),
    opt("discard-zeroes-if-aligned", Ns::Disk, Bool),
    opt("disable-write-same", Ns::Disk, Bool),
    opt("disk-timeout", Ns::Disk, Num { unit: 1, min: 0, max: 6000 }),
    opt("read-balancing", Ns::Disk, Symbol(&["prefer-local", "prefer-remote", "round-robin", "least-pending", "when-congested-remote", "32K-striping", "64K-striping", "128K-striping", "256K-striping", "512K-striping", "1M-striping"])),
    opt("rs-discard-granularity", Ns::Disk, Num { unit: 1, min: 0, max: 1048576 }),
    opt("max-bio-size", Ns::Disk, Num { unit: 1, min: 512, max: 1048576 }),
    opt("transport", Ns::Net, Text),
    opt("protocol", Ns::Net, Symbol(&["A", "B", "C"])),
    opt("timeout", Ns::Net, Num { unit: 1, min: 1, max: 600 }),
    opt("max-epoch-size", Ns::Net, Num { unit: 1, min: 1, max: 20000 }),
    opt("connect-int", Ns::Net, Num { unit: 1, min: 1, max: 120 }),
    opt("ping-int", Ns::Net, Num { unit: 1, min: 1, max: 120 }),
    opt("sndbuf-size", Ns::Net, Num { unit: 1, min: 0, max: 10485760 }),
    opt("rcvbuf-size", Ns::Net, Num { unit: 1, min: 0, max: 10485760 }),
    opt("ko-count", Ns::Net, Num { unit: 1, min: 0, max: 200 }),
    opt("allow-two-primaries", Ns::Net, Bool),
    opt("cram-hmac-alg", Ns::Net, Text),
    opt("shared-secret", Ns::Net, Text),
    opt("after-sb-0pri", Ns::Net, Symbol(&["disconnect", "discard-younger-primary", "discard-older-primary", "discard-zero-changes", "discard-least-changes", "discard-local", "discard-remote"])),
    opt("after-sb-1pri", Ns::Net, Symbol(&["disconnect", "consensus", "discard-secondary", "call-pri-lost-after-sb", "violently-as0p"])),
    opt("after-sb-2pri", Ns::Net, Symbol(&["disconnect", "call-pri-lost-after-sb", "violently-as0p"])),
    opt("always-asbp", Ns::Net, Bool),
    opt("rr-conflict", Ns::Net, Symbol(&["disconnect", "call-pri-lost", "violently", "retry-connect", "auto-discard"])),
    opt("ping-timeout", Ns::Net, Num { unit: 1, min: 1, max: 300 }),
    opt("data-integrity-alg", Ns::Net, Text),
    opt("tcp-cork", Ns::Net, Bool),
    opt("on-congestion", Ns::Net, Symbol(&["block", "pull-ahead", "disconnect"])),
    opt("congestion-fill", Ns::Net, Num { unit: 512, min: 0, max: 20971520 }),
    opt("congestion-extents", Ns::Net, Num { unit: 1, min: 67, max: 65534 }),
    opt("csums-alg", Ns::Net, Text),
    opt("csums-after-crash-only", Ns::Net, Bool),
    opt("verify-alg", Ns::Net, Text),
    opt("use-rle", Ns::Net, Bool),
    opt("socket-check-timeout", Ns::Net, Num { unit: 1, min: 0, max: 300 }),
    opt("fencing", Ns::Net, Symbol(&["dont-care", "resource-only", "resource-and-stonith"])),
    opt("max-buffers", Ns::Net, Num { unit: 1, min: 32, max: 131072 }),
    opt("allow-remote-read", Ns::Net, Bool),
    opt("resync-rate", Ns::PeerDevice, Num { unit: 1024, min: 1, max: 8388608 }),
    opt("c-plan-ahead", Ns::PeerDevice, Num { unit: 1, min: 0, max: 300 }),
    opt("c-delay-target", Ns::PeerDevice, Num { unit: 1, min: 1, max: 100 }),
    opt("c-fill-target", Ns::PeerDevice, Num { unit: 512, min: 0, max: 1048576 }),
    opt("c-max-rate", Ns::PeerDevice, Num { unit: 1024, min: 0, max: 4194304 }),
    opt("c-min-rate", Ns::PeerDevice, Num { unit: 1024, min: 0, max: 4194304 }),
    opt("bitmap", Ns::PeerDevice, Bool),
    opt("cpu-mask", Ns::Resource, Text),
    opt("on-no-data-accessible", Ns::Resource, Symbol(&["io-error", "suspend-io"])),
    opt("auto-promote", Ns::Resource, Bool),
    opt("peer-ack-window", Ns::Resource, Num { unit: 512, min: 2048, max: 204800 }),
    opt("peer-ack-delay", Ns::Resource, Num { unit: 1, min: 1, max: 10000 }),
    opt("twopc-timeout", Ns::Resource, Num { unit: 1, min: 50, max: 600 }),
    opt("twopc-retry-timeout", Ns::Resource, Num { unit: 1, min: 1, max: 50 }),
    opt("auto-promote-timeout", Ns::Resource, Num { unit: 1, min: 0, max: 600 }),
    opt("max-io-depth", Ns::Resource, Num { unit: 1, min: 4, max: 4294967295 }),
    opt("quorum", Ns::Resource, NumOrSym { min: 1, max: 32, symbols: &["off", "majority", "all"] }),
    opt("on-no-quorum", Ns::Resource, Symbol(&["io-error", "suspend-io"])),
    opt("quorum-minimum-redundancy", Ns::Resource, NumOrSym { min: 1, max: 32, symbols: &["off", "majority", "all"] }),
    opt("on-suspended-primary-outdated", Ns::Resource, Symbol(&["disconnect", "force-secondary"])),
];

/// What becomes of one option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// Set this property to this value.
    Prop {
        /// Namespace.
        ns: Ns,
        /// Full property key.
        key: String,
        /// Value in LINSTOR's form.
        value: String,
    },
    /// LINSTOR writes the same on its own.
    Same(String),
    /// LINSTOR cannot keep it; why.
    Lost(String),
}

/// A property LINSTOR needs besides `key` to write it as set: the controller manages
/// `rs-discard-granularity` itself (from the backing devices) unless its automation is off.
pub fn companion(key: &str) -> Option<(&'static str, &'static str)> {
    (key == "DrbdOptions/Disk/rs-discard-granularity")
        .then_some(("DrbdOptions/auto-rs-discard-granularity", "false"))
}

/// Multiplier of a unit suffix as drbd-utils reads it.
fn suffix(c: char) -> Option<u64> {
    match c {
        's' | 'S' => Some(512),
        'k' | 'K' => Some(1 << 10),
        'm' | 'M' => Some(1 << 20),
        'g' | 'G' => Some(1 << 30),
        _ => None,
    }
}

/// `value` (with an optional unit suffix) in units of `unit` bytes.
fn number(value: &str, unit: u64) -> Option<i64> {
    let (digits, mult) = match value.chars().last().and_then(suffix) {
        Some(m) => (&value[..value.len() - 1], Some(m)),
        None => (value, None),
    };
    let n: i64 = digits.parse().ok()?;
    match mult {
        None => Some(n),
        Some(m) => {
            let bytes = i128::from(n) * i128::from(m);
            let u = i128::from(unit);
            (bytes % u == 0)
                .then(|| i64::try_from(bytes / u).ok())
                .flatten()
        }
    }
}

fn in_range(value: &str, n: Option<i64>, min: i64, max: i64, unit: u64) -> Result<String, String> {
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n.to_string()),
        Some(n) => Err(format!(
            "{value} is {n} in the option's unit, outside {min}-{max}"
        )),
        None if unit > 1 => Err(format!(
            "'{value}' is not a whole number of the option's unit ({unit} bytes)"
        )),
        None => Err(format!("'{value}' is not a number")),
    }
}

/// Which property keeps option `name` = `value` of a `section` (`net`, `disk`, `options`,
/// `handlers`, …).
pub fn keep(section: &str, name: &str, value: &str) -> Keep {
    if section == "handlers" {
        if HANDLERS.contains(&name) {
            return Keep::Prop {
                ns: Ns::Handlers,
                key: format!("{}/{name}", Ns::Handlers.prefix()),
                value: value.to_string(),
            };
        }
        return Keep::Lost(format!(
            "LINSTOR has no property for the handler '{name}' (it keeps only {})",
            HANDLERS.join(", ")
        ));
    }
    let allowed: &[Ns] = match section {
        "net" => &[Ns::Net],
        "disk" => &[Ns::Disk, Ns::PeerDevice],
        "options" => &[Ns::Resource],
        "startup" => {
            return Keep::Lost(
                "LINSTOR writes no 'startup' section and has no property for it (it only affects drbdadm's wait-connect at boot)".into(),
            )
        }
        other => {
            return Keep::Lost(format!(
                "LINSTOR has no properties for the '{other}' section"
            ))
        }
    };
    let Some(o) = OPTIONS
        .iter()
        .find(|o| o.name == name && allowed.contains(&o.ns))
    else {
        return Keep::Lost(format!(
            "'{name}' is not an option of the '{section}' section LINSTOR knows (drbdsetup xml-help of drbd-utils 9.22)"
        ));
    };
    match (o.ns, name) {
        (Ns::Net, "shared-secret") => {
            return Keep::Lost(
                "LINSTOR always writes its own generated shared-secret; the peers authenticate with it once all of them run LINSTOR's configuration".into(),
            )
        }
        (Ns::Net, "cram-hmac-alg") => {
            return if value.eq_ignore_ascii_case("sha1") {
                Keep::Same("LINSTOR always writes cram-hmac-alg sha1".into())
            } else {
                Keep::Lost(format!(
                    "LINSTOR always writes cram-hmac-alg sha1, not {value}"
                ))
            }
        }
        _ => {}
    }
    let checked = match o.kind {
        Bool => match value {
            "yes" | "no" => Ok(value.to_string()),
            _ => Err(format!("'{value}' is not yes or no")),
        },
        Text => Ok(value.to_string()),
        Symbol(s) => {
            if s.contains(&value) {
                Ok(value.to_string())
            } else {
                Err(format!("'{value}' is not one of {}", s.join(", ")))
            }
        }
        Num { unit, min, max } => in_range(value, number(value, unit), min, max, unit),
        NumOrSym { min, max, symbols } => {
            if symbols.contains(&value) {
                Ok(value.to_string())
            } else {
                in_range(value, number(value, 1), min, max, 1)
            }
        }
    };
    match checked {
        Ok(v) => Keep::Prop {
            ns: o.ns,
            key: format!("{}/{name}", o.ns.prefix()),
            value: v,
        },
        Err(why) => Keep::Lost(format!("LINSTOR would refuse the value: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(section: &str, name: &str, value: &str) -> (String, String) {
        match keep(section, name, value) {
            Keep::Prop { key, value, .. } => (key, value),
            other => panic!("{section}/{name} {value}: {other:?}"),
        }
    }

    #[test]
    fn sections_map_to_linstor_namespaces_and_units_are_converted() {
        assert_eq!(
            prop("net", "protocol", "C"),
            ("DrbdOptions/Net/protocol".into(), "C".into())
        );
        assert_eq!(
            prop("disk", "c-plan-ahead", "0"),
            ("DrbdOptions/PeerDevice/c-plan-ahead".into(), "0".into())
        );
        assert_eq!(
            prop("disk", "resync-rate", "100M"),
            ("DrbdOptions/PeerDevice/resync-rate".into(), "102400".into())
        );
        assert_eq!(
            prop("disk", "c-fill-target", "100K"),
            ("DrbdOptions/PeerDevice/c-fill-target".into(), "200".into())
        );
        assert_eq!(
            prop("net", "sndbuf-size", "1M"),
            ("DrbdOptions/Net/sndbuf-size".into(), "1048576".into())
        );
        assert_eq!(
            prop("disk", "al-extents", "6007"),
            ("DrbdOptions/Disk/al-extents".into(), "6007".into())
        );
        assert_eq!(
            prop("options", "quorum", "majority"),
            ("DrbdOptions/Resource/quorum".into(), "majority".into())
        );
        assert_eq!(prop("options", "quorum", "2").1, "2");
        assert_eq!(
            prop(
                "handlers",
                "split-brain",
                "/usr/lib/drbd/notify-split-brain.sh root"
            )
            .0,
            "DrbdOptions/Handlers/split-brain"
        );
        assert_eq!(prop("disk", "max-bio-size", "1M").1, "1048576");
    }

    #[test]
    fn what_linstor_cannot_keep_says_why() {
        for (section, name, value, want) in [
            ("net", "shared-secret", "s3cr3t", "generated shared-secret"),
            ("net", "cram-hmac-alg", "sha256", "not sha256"),
            ("startup", "wfc-timeout", "10", "no 'startup' section"),
            ("proxy", "memlimit", "100M", "'proxy' section"),
            (
                "handlers",
                "disconnected",
                "/bin/true",
                "no property for the handler",
            ),
            (
                "net",
                "resync-rate",
                "10M",
                "not an option of the 'net' section",
            ),
            ("net", "protocol", "D", "not one of A, B, C"),
            ("disk", "resync-rate", "1001s", "whole number"),
            ("disk", "al-extents", "3", "outside 67-65534"),
            ("net", "tcp-cork", "maybe", "not yes or no"),
        ] {
            match keep(section, name, value) {
                Keep::Lost(why) => assert!(why.contains(want), "{name}: {why}"),
                other => panic!("{section}/{name}: {other:?}"),
            }
        }
        assert!(matches!(
            keep("net", "cram-hmac-alg", "sha1"),
            Keep::Same(_)
        ));
    }
}
