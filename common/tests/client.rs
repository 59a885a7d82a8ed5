//! The REST client against the LINSTOR simulator: every endpoint the frontends use, failover,
//! TLS, bearer tokens, basic auth and broken controller answers.

use std::time::{Duration, Instant};

use linstor_common::api::*;
use linstor_common::config::{BasicAuth, ClientConfig, ControllerUrl};
use linstor_common::{Client, Error};
use linstor_tests::sim::{FailKind, Fault, Sim, SimConfig, TlsConfig};

fn config(urls: &[String]) -> ClientConfig {
    ClientConfig {
        controllers: urls
            .iter()
            .map(|u| ControllerUrl::parse(u).unwrap())
            .collect(),
        ..Default::default()
    }
}

/// One property, as an `override_props`.
fn prop(key: &str, value: &str) -> Props {
    Props::from([(key.to_string(), value.to_string())])
}

fn client(url: &str) -> Client {
    Client::new(config(&[url.to_string()])).unwrap()
}

/// A loopback port with nothing listening.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

#[tokio::test]
async fn every_endpoint_round_trip() {
    let sim = Sim::start(SimConfig {
        nodes: vec!["n1".into(), "n2".into(), "n3".into(), "n4".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let c = client(&sim.url());

    let v = c.version().await.unwrap();
    assert_eq!(v.rest_api_version, "1.28.0");

    let nodes = c.nodes().await.unwrap();
    assert_eq!(nodes.len(), 4);
    assert!(nodes.iter().all(Node::is_online));
    assert!(c.node("n1").await.unwrap().is_some());
    assert!(c.node("nope").await.unwrap().is_none());

    let pools = c.storage_pools(&["n1"], true).await.unwrap();
    assert!(pools.iter().any(|p| p.is_diskless()));
    assert!(pools
        .iter()
        .any(|p| !p.is_diskless() && p.free_capacity.unwrap_or(0) > 0));

    c.resource_group_create(&ResourceGroup {
        name: "rg1".into(),
        select_filter: Some(AutoSelectFilter {
            place_count: Some(2),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(matches!(
        c.resource_group_create(&ResourceGroup {
            name: "rg1".into(),
            ..Default::default()
        })
        .await,
        Err(Error::AlreadyExists { .. })
    ));
    assert!(c.resource_group("rg1").await.unwrap().is_some());
    assert!(c
        .resource_groups()
        .await
        .unwrap()
        .iter()
        .any(|g| g.name == "rg1"));
    c.volume_group_create("rg1", &VolumeGroup::default())
        .await
        .unwrap();
    c.resource_group_modify(
        "rg1",
        &ResourceGroupModify {
            override_props: prop("Aux/x", "1"),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let mut props = Props::new();
    props.insert("Aux/owner".into(), "test".into());
    c.spawn(
        "rg1",
        &ResourceGroupSpawn {
            resource_definition_name: "vol1".into(),
            volume_sizes: vec![102400],
            resource_definition_props: props,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let rd = c.resource_definition("vol1").await.unwrap().unwrap();
    assert_eq!(rd.props.get("Aux/owner").map(String::as_str), Some("test"));
    assert_eq!(rd.resource_group_name.as_deref(), Some("rg1"));
    let named = c.resource_definitions_named(&["vol1"]).await.unwrap();
    assert_eq!(named[0].volume_definitions[0].size_kib, 102400);
    assert_eq!(c.volume_definitions("vol1").await.unwrap().len(), 1);
    let filtered = c.resource_definitions(&["Aux/owner=test"]).await.unwrap();
    assert_eq!(filtered.len(), 1);

    let resources = c.resources("vol1").await.unwrap();
    let diskful: Vec<_> = resources.iter().filter(|r| !r.is_diskless()).collect();
    assert_eq!(diskful.len(), 2, "{resources:?}");
    let tiebreaker = resources.iter().find(|r| r.is_tiebreaker()).unwrap();
    let free = ["n1", "n2", "n3", "n4"]
        .into_iter()
        .find(|n| !resources.iter().any(|r| r.node_name == *n))
        .unwrap();
    let replies = c
        .make_available("vol1", free, &ResourceMakeAvailable::default())
        .await
        .unwrap();
    assert!(!replies.0.iter().any(ApiCallRc::is_error));
    let r = c.resource("vol1", free).await.unwrap().unwrap();
    assert!(r.is_diskless() && !r.is_tiebreaker());
    let view = c.view_resources(&["vol1"], &[free], &[]).await.unwrap();
    assert_eq!(view.len(), 1);
    assert!(view[0].volumes[0]
        .device_path
        .as_deref()
        .unwrap()
        .starts_with("/dev/drbd"));
    c.resource_modify(
        "vol1",
        free,
        &ResourceModify {
            override_props: prop("Aux/r", "1"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let first = c.resource_delete("vol1", free).await.unwrap();
    assert!(!first.0.iter().any(ApiCallRc::is_error), "{first:?}");
    let now = c.resources("vol1").await.unwrap();
    let empty = ["n1", "n2", "n3", "n4"]
        .into_iter()
        .find(|n| !now.iter().any(|r| r.node_name == *n))
        .unwrap();
    let again = c.resource_delete("vol1", empty).await.unwrap();
    assert!(again.has_warning(codes::WARN_NOT_FOUND), "{again:?}");
    let free = empty;
    c.resource_create(
        "vol1",
        free,
        &ResourceCreate {
            resource: Resource {
                flags: vec!["DRBD_DISKLESS".into()],
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    c.resource_delete("vol1", free).await.unwrap();
    let tb = tiebreaker.node_name.clone();
    c.make_available("vol1", &tb, &ResourceMakeAvailable::default())
        .await
        .unwrap();
    let converted = c.resource("vol1", &tb).await.unwrap().unwrap();
    assert!(
        converted.is_diskless() && !converted.is_tiebreaker(),
        "{converted:?}"
    );
    assert!(
        c.resource("vol1", free)
            .await
            .unwrap()
            .unwrap()
            .is_tiebreaker(),
        "the diskless deleted on '{free}' was taken over as the tie-breaker"
    );
    let deleted = c.resource_delete("vol1", &tb).await.unwrap();
    assert!(!deleted.0.iter().any(ApiCallRc::is_error), "{deleted:?}");
    assert!(
        c.resource("vol1", &tb).await.unwrap().is_none(),
        "make-available made a DRBD client (1.34), which has no vote: deleted, not taken over"
    );
    let ap = c
        .autoplace("vol1", &AutoSelectFilter::default())
        .await
        .unwrap();
    assert!(!ap.0.iter().any(ApiCallRc::is_error));

    c.volume_definition_modify(
        "vol1",
        0,
        &VolumeDefinitionModify {
            size_kib: Some(204800),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let shrink = c
        .volume_definition_modify(
            "vol1",
            0,
            &VolumeDefinitionModify {
                size_kib: Some(1024),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(shrink.to_string().contains("grow"), "{shrink}");

    c.snapshot_create(
        "vol1",
        &SnapshotCreate {
            name: "s1".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let snaps = c.snapshots("vol1").await.unwrap();
    assert_eq!(snaps.len(), 1);
    assert!(snaps[0].flags.iter().any(|f| f == "SUCCESSFUL"));
    assert_eq!(c.view_snapshots(&["vol1"]).await.unwrap().len(), 1);
    c.snapshot_rollback("vol1", "s1").await.unwrap();
    c.resource_definition_create(&ResourceDefinitionCreate {
        resource_definition: ResourceDefinition {
            name: "restored".into(),
            resource_group_name: Some("rg1".into()),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let restore = SnapshotRestore {
        to_resource: "restored".into(),
        nodes: vec![],
    };
    c.snapshot_restore_volume_definition("vol1", "s1", &restore)
        .await
        .unwrap();
    c.snapshot_restore_resource("vol1", "s1", &restore)
        .await
        .unwrap();
    let restored = c.resources("restored").await.unwrap();
    assert_eq!(restored.iter().filter(|r| !r.is_diskless()).count(), 2);
    assert!(matches!(
        c.resource_definition_delete("vol1").await,
        Err(Error::Api { .. }) | Err(Error::AlreadyExists { .. })
    ));
    c.snapshot_delete("vol1", "s1").await.unwrap();
    assert!(c
        .snapshot_delete("vol1", "s1")
        .await
        .unwrap()
        .has_warning(codes::WARN_NOT_FOUND));

    let started = c
        .clone_start(
            "vol1",
            &ResourceDefinitionCloneRequest {
                name: "vol1-clone".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(started.clone_name, "vol1-clone");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = c.clone_status("vol1", "vol1-clone").await.unwrap().unwrap();
        if st.status == "COMPLETE" {
            break;
        }
        assert_ne!(st.status, "FAILED");
        assert!(Instant::now() < deadline, "clone never completed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(c.clone_status("vol1", "nope").await.unwrap().is_none());
    assert!(c.sync_status("vol1").await.unwrap().synced_on_all);

    let size = c
        .query_size_info("rg1", &QuerySizeInfoRequest::default())
        .await
        .unwrap();
    let space = size.space_info.unwrap();
    assert!(space.max_vlm_size_in_kib > 0 && space.available_size_in_kib.unwrap() > 0);

    c.controller_props_modify(&PropsModify {
        override_props: prop("Aux/ctl", "1"),
        ..Default::default()
    })
    .await
    .unwrap();
    let nodes_of_vol1: Vec<String> = c
        .resources("vol1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.node_name)
        .collect();
    c.resource_connection_modify(
        "vol1",
        &nodes_of_vol1[0],
        &nodes_of_vol1[1],
        &PropsModify {
            override_props: prop("DrbdOptions/Net/allow-two-primaries", "yes"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    c.resource_definition_modify(
        "vol1",
        &ResourceDefinitionModify {
            override_props: prop("Aux/y", "2"),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    for rd in ["vol1", "vol1-clone", "restored"] {
        c.resource_definition_delete(rd).await.unwrap();
    }
    assert!(c
        .resource_definition_delete("vol1")
        .await
        .unwrap()
        .has_warning(codes::WARN_NOT_FOUND));
    assert!(c.resource_definition("vol1").await.unwrap().is_none());
    c.resource_group_delete("rg1").await.unwrap();
    sim.stop().await;
}

#[tokio::test]
async fn not_found_and_exists_are_typed_with_linstor_messages() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let c = client(&sim.url());
    let x1 = ResourceGroupSpawn {
        resource_definition_name: "x1".into(),
        volume_sizes: vec![1024],
        ..Default::default()
    };
    let err = c.spawn("no-such-group", &x1).await.unwrap_err();
    match &err {
        Error::NotFound { reports, .. } => assert!(!reports.is_empty()),
        other => panic!("expected NotFound, got {other:?}"),
    }
    c.spawn("DfltRscGrp", &x1).await.unwrap();
    let err = c.spawn("DfltRscGrp", &x1).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
    assert!(err.to_string().contains("already exists"), "{err}");
    sim.stop().await;
}

#[tokio::test]
async fn failover_to_the_second_controller_and_remembers_it() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut cfg = config(&[closed_port(), sim.url()]);
    cfg.state_dir = Some(state.path().to_path_buf());
    let c = Client::new(cfg.clone()).unwrap();
    assert_eq!(c.version().await.unwrap().rest_api_version, "1.28.0");
    let remembered = std::fs::read_to_string(state.path().join("last-good-controller")).unwrap();
    assert_eq!(remembered, sim.url());
    let again = Client::new(cfg).unwrap();
    sim.reset_stats();
    again.nodes().await.unwrap();
    assert_eq!(sim.request_count(), 1);
    sim.stop().await;
}

#[tokio::test]
async fn all_controllers_down_fails_fast_naming_them() {
    let urls = vec![closed_port(), closed_port()];
    let c = Client::new(config(&urls)).unwrap();
    let t = Instant::now();
    let err = c.nodes().await.unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    assert!(err.is_controller_unreachable());
    let msg = err.to_string();
    for u in &urls {
        assert!(msg.contains(u.as_str()), "{msg}");
    }
}

#[tokio::test]
async fn controller_going_down_and_up() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let c = client(&sim.url());
    c.nodes().await.unwrap();
    sim.set_down(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = c.nodes().await.unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    sim.set_down(false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.nodes().await.unwrap();
    sim.stop().await;
}

#[tokio::test]
async fn broken_answers_give_clear_errors_not_panics() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let c = client(&sim.url());
    for (kind, needle) in [
        (FailKind::Garbage, "unreadable"),
        (FailKind::Html, "unreadable"),
        (FailKind::Truncated, "unreadable"),
    ] {
        sim.inject(Fault::FailNext { count: 1, kind });
        let err = c.nodes().await.unwrap_err();
        assert!(err.to_string().contains(needle), "{kind:?}: {err}");
        c.nodes().await.unwrap();
    }
    sim.inject(Fault::FailNext {
        count: 1,
        kind: FailKind::Reset,
    });
    let err = c.nodes().await.unwrap_err();
    assert!(
        matches!(err, Error::Connection { .. }),
        "a GET whose connection broke: {err:?}"
    );
    let twice = Client::new(config(&[sim.url(), sim.url()])).unwrap();
    sim.inject(Fault::FailNext {
        count: 1,
        kind: FailKind::Reset,
    });
    twice
        .nodes()
        .await
        .expect("a broken GET is retried on the next controller");
    sim.inject(Fault::FailNext {
        count: 1,
        kind: FailKind::Reset,
    });
    let err = c.resource_definition_delete("anything").await.unwrap_err();
    assert!(
        matches!(err, Error::Protocol { status: 0, .. }),
        "a mutating call is never retried blindly: {err:?}"
    );
    sim.inject(Fault::FailNext {
        count: 1,
        kind: FailKind::Status500,
    });
    let err = c.nodes().await.unwrap_err();
    assert!(matches!(err, Error::Api { status: 500, .. }), "{err:?}");
    sim.stop().await;
}

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        write("ca.pem", ca.pem());

        let srv_key = KeyPair::generate().unwrap();
        let srv = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap()
            .signed_by(&srv_key, &ca, &ca_key)
            .unwrap();
        write("server.pem", srv.pem());
        write("server.key", srv_key.serialize_pem());

        let mut cl_params = CertificateParams::new(vec!["client".to_string()]).unwrap();
        cl_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cl_key = KeyPair::generate().unwrap();
        let cl = cl_params.signed_by(&cl_key, &ca, &ca_key).unwrap();
        write("client.pem", cl.pem());
        write("client.key", cl_key.serialize_pem());

        let mut other_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        other_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let other = other_params
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap();
        write("other-ca.pem", other.pem());
        Self { dir }
    }
    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
    /// The simulator's TLS settings: this CA's server certificate, and client certificates of
    /// this CA required when `verify_clients`.
    fn server_tls(&self, verify_clients: bool) -> TlsConfig {
        TlsConfig {
            cert: self.path("server.pem"),
            key: self.path("server.key"),
            client_ca: verify_clients.then(|| self.path("ca.pem")),
        }
    }
    /// A client of `url` trusting this CA, without credentials.
    fn anonymous(&self, url: String) -> ClientConfig {
        ClientConfig {
            ca_file: Some(self.path("ca.pem")),
            ..config(&[url])
        }
    }
}

/// The error of listing the nodes with `cfg`.
async fn nodes_error(cfg: ClientConfig) -> Error {
    Client::new(cfg).unwrap().nodes().await.unwrap_err()
}

#[tokio::test]
async fn tls_verifies_the_controller_and_presents_a_client_certificate() {
    let pki = Pki::new();
    let sim = Sim::start(SimConfig {
        tls: Some(pki.server_tls(true)),
        ..Default::default()
    })
    .await
    .unwrap();
    let url = sim.url();
    assert!(url.starts_with("https://"));

    let mut good = pki.anonymous(url);
    good.client_cert = Some(pki.path("client.pem"));
    good.client_key = Some(pki.path("client.key"));
    Client::new(good.clone()).unwrap().version().await.unwrap();

    let mut wrong_ca = good.clone();
    wrong_ca.ca_file = Some(pki.path("other-ca.pem"));
    let err = Client::new(wrong_ca).unwrap().version().await.unwrap_err();
    assert!(
        matches!(&err, Error::Tls { problem, .. } if problem.contains("not signed by a trusted CA")),
        "{err:?}"
    );

    let mut no_client_cert = good.clone();
    no_client_cert.client_cert = None;
    no_client_cert.client_key = None;
    let err = Client::new(no_client_cert)
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Tls { problem, .. } if problem.contains("requires a client certificate")),
        "{err:?}"
    );

    let mut half = good.clone();
    half.client_key = None;
    let err = Client::new(half).unwrap_err();
    assert!(err.to_string().contains("both"), "{err}");

    let mut bad_ca = good;
    bad_ca.ca_file = Some(pki.path("missing.pem"));
    let err = Client::new(bad_ca).unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
    sim.stop().await;
}

#[tokio::test]
async fn bearer_token_is_sent_over_https_only() {
    let pki = Pki::new();
    let sim = Sim::start(SimConfig {
        token: Some("s3cret-token".into()),
        tls: Some(pki.server_tls(false)),
        ..Default::default()
    })
    .await
    .unwrap();
    let anonymous = pki.anonymous(sim.url());
    let err = nodes_error(anonymous.clone()).await;
    assert!(matches!(err, Error::Api { status: 401, .. }), "{err:?}");
    let mut cfg = anonymous;
    cfg.token = Some("s3cret-token".into());
    Client::new(cfg.clone()).unwrap().nodes().await.unwrap();

    cfg.controllers
        .push(ControllerUrl::parse("http://127.0.0.1:1").unwrap());
    let err = Client::new(cfg).unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("plain HTTP") && m.contains("http://127.0.0.1:1")),
        "a token is never sent in clear: {err:?}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn basic_auth_is_sent_over_https_only_and_wins_over_a_token() {
    let pki = Pki::new();
    let sim = Sim::start(SimConfig {
        basic_auth: Some(("alice".into(), "pw-e1d2".into())),
        tls: Some(pki.server_tls(false)),
        ..Default::default()
    })
    .await
    .unwrap();
    let anonymous = pki.anonymous(sim.url());
    let err = nodes_error(anonymous.clone()).await;
    assert!(
        matches!(&err, Error::Api { status: 401, .. })
            && err.to_string().contains("Login required"),
        "{err:?}"
    );

    let mut cfg = anonymous.clone();
    cfg.token = Some("some-token".into());
    cfg.basic_auth = Some(BasicAuth {
        username: "alice".into(),
        password: "pw-e1d2".into(),
    });
    Client::new(cfg.clone()).unwrap().nodes().await.unwrap();

    let mut wrong = cfg.clone();
    wrong.basic_auth = Some(BasicAuth {
        username: "alice".into(),
        password: "guess".into(),
    });
    let err = nodes_error(wrong).await;
    assert!(
        matches!(&err, Error::Api { status: 403, .. })
            && err.to_string().contains("Sign in failed"),
        "{err:?}"
    );

    cfg.token = None;
    cfg.controllers
        .push(ControllerUrl::parse("http://127.0.0.1:1").unwrap());
    let err = Client::new(cfg).unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("refusing to send the password") && m.contains("http://127.0.0.1:1")),
        "a password is never sent in clear: {err:?}"
    );
    sim.stop().await;
}

fn bounded(urls: &[String], read: Duration, mutate: Duration) -> ClientConfig {
    ClientConfig {
        request_timeout: read,
        mutate_timeout: mutate,
        ..config(urls)
    }
}

fn hang_all() -> Fault {
    Fault::Hang {
        method: None,
        path_contains: None,
        max: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn a_hung_controller_is_left_for_the_next_at_once_and_tried_last_afterwards() {
    let hung = Sim::start(SimConfig::default()).await.unwrap();
    let good = Sim::start(SimConfig::default()).await.unwrap();
    hung.inject(hang_all());
    let state = tempfile::tempdir().unwrap();
    let mut cfg = bounded(
        &[hung.url(), good.url()],
        Duration::from_millis(800),
        Duration::from_secs(5),
    );
    cfg.state_dir = Some(state.path().to_path_buf());
    let c = Client::new(cfg.clone()).unwrap();
    let t = Instant::now();
    assert_eq!(c.nodes().await.unwrap().len(), 3);
    let first = t.elapsed();
    assert_eq!(
        std::fs::read_to_string(state.path().join("last-good-controller")).unwrap(),
        good.url(),
        "the controller that answered is tried first from now on"
    );
    good.reset_stats();
    let again = Client::new(cfg).unwrap();
    let t = Instant::now();
    again.nodes().await.unwrap();
    again
        .resource_group_create(&ResourceGroup {
            name: "after-hang".into(),
            ..Default::default()
        })
        .await
        .expect("a mutating call goes to the healthy controller");
    println!(
        "read with the first controller hung: {first:?}; next read and change: {:?}",
        t.elapsed()
    );
    assert!(good.request_count() >= 2);
    hung.clear_faults();
    hung.stop().await;
    good.stop().await;
}

#[tokio::test]
async fn every_controller_hung_or_blackholed_fails_within_the_bounds_naming_them() {
    let a = Sim::start(SimConfig::default()).await.unwrap();
    let b = Sim::start(SimConfig::default()).await.unwrap();
    a.inject(hang_all());
    b.inject(Fault::Blackhole {
        max: Duration::from_secs(60),
    });
    let urls = [a.url(), b.url()];
    let read = Duration::from_millis(700);
    let c = Client::new(bounded(&urls, read, Duration::from_secs(1))).unwrap();
    let t = Instant::now();
    let err = c.resource_definitions(&[]).await.unwrap_err();
    let took = t.elapsed();
    println!("read, every controller silent: {took:?}: {err}");
    assert!(
        matches!(
            err,
            Error::Timeout {
                may_have_been_carried_out: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_controller_unreachable());
    let msg = err.to_string();
    assert!(msg.contains(&a.url()) && msg.contains(&b.url()), "{msg}");
    assert!(!msg.contains("may have been carried out"), "{msg}");
    assert!(
        took < read * 2 + Duration::from_secs(2),
        "each controller is given its read bound once: {took:?}"
    );
    a.clear_faults();
    b.clear_faults();
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_change_the_controller_never_answers_may_have_been_carried_out_and_converges() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let other = Sim::start(SimConfig::default()).await.unwrap();
    let c = Client::new(bounded(
        &[sim.url(), other.url()],
        Duration::from_secs(2),
        Duration::from_millis(800),
    ))
    .unwrap();
    c.nodes().await.unwrap();
    sim.inject(Fault::Hang {
        method: Some("POST".into()),
        path_contains: Some("/v1/resource-groups".into()),
        max: Duration::from_secs(60),
    });
    let rg = ResourceGroup {
        name: "hung-create".into(),
        ..Default::default()
    };
    let t = Instant::now();
    let err = c.resource_group_create(&rg).await.unwrap_err();
    println!("change on a hung controller: {:?}: {err}", t.elapsed());
    assert!(
        matches!(
            err,
            Error::Timeout {
                may_have_been_carried_out: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("may have been carried out"),
        "{err}"
    );
    assert!(err.to_string().contains(&sim.url()), "{err}");
    assert!(
        !err.to_string().contains(&other.url()),
        "a change that may have been delivered is not sent to a second controller: {err}"
    );
    assert!(other.mutations().is_empty(), "{:?}", other.mutations());
    sim.clear_faults();
    let single = client(&sim.url());
    single.resource_group_create(&rg).await.unwrap();
    assert!(single
        .resource_group("hung-create")
        .await
        .unwrap()
        .is_some());
    sim.stop().await;
    other.stop().await;
}

#[tokio::test]
async fn a_read_given_up_on_a_hung_controller_starts_at_the_next_one_afterwards() {
    let hung = Sim::start(SimConfig::default()).await.unwrap();
    let good = Sim::start(SimConfig::default()).await.unwrap();
    hung.inject(hang_all());
    let c = Client::new(bounded(
        &[hung.url(), good.url()],
        Duration::from_secs(30),
        Duration::from_secs(30),
    ))
    .unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(300), c.nodes()).await;
    assert!(gave_up.is_err(), "the hung controller held the read");
    good.reset_stats();
    let t = Instant::now();
    assert_eq!(c.nodes().await.unwrap().len(), 3);
    println!(
        "read after giving up on the hung controller: {:?}",
        t.elapsed()
    );
    assert_eq!(
        good.request_count(),
        1,
        "asked the healthy controller first"
    );
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "not held by the hung controller's 30 s bound: {:?}",
        t.elapsed()
    );
    hung.clear_faults();
    hung.stop().await;
    good.stop().await;
}
