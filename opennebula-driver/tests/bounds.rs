//! The datastore attributes `LINSTOR_READ_TIMEOUT`/`LINSTOR_CHANGE_TIMEOUT` through the real
//! driver binary: against a simulator whose every answer is 1.5 s late, `datastore/monitor`
//! fails at a 1 s read bound with the timeout error naming the controller and the attribute,
//! and answers with a 3 s one; a bad value is refused (exit 2) with the attribute, the value
//! and the range before any request.

mod support;

use std::time::Duration;

use linstor_tests::sim::Fault;
use support::*;

fn monitor(h: &Harness, extra: &[(&str, &str)]) -> Run {
    let url = h.sim.url();
    let mut tpl = vec![("LS_CONTROLLERS", url.as_str())];
    tpl.extend_from_slice(extra);
    let ds = datastore_xml(100, 0, &tpl);
    h.run(
        "datastore",
        "linstor",
        "monitor",
        &["100"],
        &b64(&action_msg("", &ds)),
    )
}

#[test]
fn monitor_of_a_slow_controller_needs_a_raised_read_timeout_and_names_it_below() {
    let h = Harness::new(&["s1", "s2", "n1"]);
    h.sim.inject(Fault::Latency(Duration::from_millis(1500)));

    let low = monitor(&h, &[("LINSTOR_READ_TIMEOUT", "1")]);
    println!(
        "monitor, answers 1.5 s late, LINSTOR_READ_TIMEOUT=1: {}",
        low.stderr.trim()
    );
    assert_eq!(low.code, 3, "{low:?}");
    assert!(low.stdout.is_empty(), "no figures: {low:?}");
    assert!(
        low.stderr.contains(&h.sim.url()),
        "names the controller: {low:?}"
    );
    assert!(
        low.stderr.contains("within 1 s")
            && low
                .stderr
                .contains("raise LINSTOR_READ_TIMEOUT (seconds, 1 to 300; default 5) in the datastore template"),
        "names the bound and the attribute: {low:?}"
    );

    let high = monitor(&h, &[("LINSTOR_READ_TIMEOUT", "3")]);
    assert_eq!(high.code, 0, "{high:?}");
    assert!(high.stdout.contains("TOTAL_MB="), "{high:?}");
    let total: u64 = high
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("TOTAL_MB="))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(total > 0, "{high:?}");
    h.sim.clear_faults();
}

#[test]
fn bad_bounds_are_refused_naming_the_attribute_value_and_range() {
    let h = Harness::new(&["s1", "s2", "n1"]);
    let before = h.sim.request_count();
    for (key, value, range) in [
        ("LINSTOR_READ_TIMEOUT", "0", "1 to 300"),
        ("LINSTOR_READ_TIMEOUT", "5min", "1 to 300"),
        ("LINSTOR_CHANGE_TIMEOUT", "3", "5 to 600"),
        ("LINSTOR_CHANGE_TIMEOUT", "1000", "5 to 600"),
    ] {
        let r = monitor(&h, &[(key, value)]);
        assert_eq!(r.code, 2, "{key}={value}: {r:?}");
        assert!(
            r.stderr.contains(&format!("{key} is '{value}'")) && r.stderr.contains(range),
            "{key}={value}: {r:?}"
        );
    }
    assert_eq!(h.sim.request_count(), before, "refused before any request");
}
