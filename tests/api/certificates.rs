//! The operator registers or signs only certificates that can connect:
//! `members add --cert` and `certs sign`, run as the real executable.

use breakwater::certs::CertificateAuthority;
use chrono::{Duration, Utc};

use crate::binary::{assert_user_error, breakwater, config_of, init, run, stderr_of, stdout_of};

#[tokio::test]
async fn members_add_and_certs_sign_refuse_certificates_that_could_never_connect() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let ca = CertificateAuthority::from_pem(
        &std::fs::read_to_string(dir.join("ca/ca.pem")).unwrap(),
        &std::fs::read_to_string(dir.join("ca/ca-key.pem")).unwrap(),
    )
    .unwrap();
    let cli = |args: &[&str]| run(breakwater().arg("--config").arg(config_of(&dir)).args(args));
    let now = Utc::now();
    let expired = ca
        .issue_client_between(
            "late-line",
            now - Duration::days(30),
            now - Duration::days(1),
        )
        .unwrap();
    let server_only = ca.issue_server(&["late-line.example".into()], 30).unwrap();
    for (file, pem, reason) in [
        ("expired.pem", &expired.cert_pem, "it expired on"),
        (
            "server.pem",
            &server_only.cert_pem,
            "it is not for client authentication (its extended key usage is serverAuth, without clientAuth)",
        ),
    ] {
        let path = tmp.path().join(file);
        std::fs::write(&path, pem).unwrap();
        let out = cli(&[
            "members",
            "add",
            "late-line",
            "--sector",
            "shipping-line",
            "--cert",
            path.to_str().unwrap(),
        ]);
        assert_user_error(&out);
        let stderr = stderr_of(&out);
        assert!(stderr.contains("cannot be registered"), "{stderr}");
        assert!(stderr.contains(reason), "{file}: {stderr}");
        // Nothing half-done: the member was not added.
        let listed = cli(&["members", "list", "--json"]);
        assert!(
            !stdout_of(&listed).contains("late-line"),
            "{}",
            stdout_of(&listed)
        );
    }

    // A signing request asking to be a CA is refused, and no file written.
    let out = cli(&["members", "add", "rail-co", "--sector", "rail"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let mut params = rcgen::CertificateParams::default();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = tmp.path().join("ca-request.pem");
    std::fs::write(&csr, params.serialize_request(&key).unwrap().pem().unwrap()).unwrap();
    let handover = tmp.path().join("handover");
    std::fs::create_dir(&handover).unwrap();
    let out = cli(&[
        "certs",
        "sign",
        "--member",
        "rail-co",
        "--csr",
        csr.to_str().unwrap(),
        "--out",
        handover.to_str().unwrap(),
    ]);
    assert_user_error(&out);
    assert!(
        stderr_of(&out).contains("it is a CA certificate"),
        "{}",
        stderr_of(&out)
    );
    assert!(!handover.join("rail-co.pem").exists());
}
