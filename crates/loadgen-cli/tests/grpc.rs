//! gRPC: against `serve grpc` by reflection, `--proto` and `--protoset`; outcomes by
//! status; bad input before the first load; and interop with a server written with
//! Python's grpcio (ignored where grpcio is not installed — see build.rs; CI installs it).

mod support;

use support::*;

fn proto() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../loadgen-servers/proto/calc.proto"
    )
    .to_string()
}

const ADD: &str = r#"{"operands":[12,5],"op":"ADD"}"#;

/// `loadgen run URL --call calc.Calc/Compute --message MESSAGE -n N EXTRA… --json -`.
fn compute(
    url: &str,
    message: &str,
    n: u32,
    extra: &[&str],
) -> (Option<i32>, Option<Summary>, String) {
    let n = n.to_string();
    let mut args = vec![
        url,
        "--call",
        "calc.Calc/Compute",
        "--message",
        message,
        "-n",
        &n,
    ];
    args.extend_from_slice(extra);
    run_json(&args)
}

#[test]
fn calls_by_reflection_proto_and_protoset_with_outcomes_by_status() {
    let (_srv, addrs, _) = serve(&["grpc", "--listen", "127.0.0.1:0"]);
    let url = format!("grpc://{}", addrs[0]);
    let protoset = tmp("calc.protoset");
    std::fs::write(&protoset, loadgen_servers::grpc::DESCRIPTOR).unwrap();
    let p = proto();
    let schemas: [&[&str]; 3] = [
        &[],
        &["--proto", &p],
        &["--protoset", protoset.to_str().unwrap()],
    ];
    for schema in schemas {
        let mut args = vec![
            "--expect-body",
            "12 + 5 = 17",
            // metadata; the header HTTP/2 forbids is dropped, not sent (h2 would refuse
            // every call carrying it)
            "-H",
            "x-load: 1",
            "-H",
            "Connection: keep-alive",
        ];
        args.extend_from_slice(schema);
        let (code, s, err) = compute(&url, ADD, 300, &args);
        assert_eq!(code, Some(0), "{schema:?}: {err}");
        let s = s.unwrap();
        assert_eq!(s.counts.success, 300, "{schema:?}: {:?}", s.errors);
        assert_eq!(s.protocol, "grpc");
        assert_eq!(
            s.protocol_details.get("call").map(String::as_str),
            Some("calc.Calc/Compute")
        );
        assert_eq!(
            s.protocol_details.get("kind").map(String::as_str),
            Some("unary")
        );
    }
    // an error status is the callee's, named; a wrong answer is a response error
    let (_, s, err) = compute(&url, r#"{"operands":[1,0],"op":"DIV"}"#, 20, &[]);
    let s = s.unwrap_or_else(|| panic!("{err}"));
    assert_eq!(s.counts.callee_error, 20, "{:?}", s.errors);
    assert!(
        s.errors[0].message.contains("division by zero"),
        "{:?}",
        s.errors
    );
    let (_, s, _) = compute(&url, ADD, 20, &["--expect-body", "= 18"]);
    assert_eq!(s.unwrap().counts.response_error, 20);
    // messages in turn, with templates; server streaming
    let (_, s, err) = run_json(&[
        &url,
        "--call",
        "calc.Calc/Steps",
        "-n",
        "40",
        "--message",
        r#"[{"operands":[1,2,3]},{"operands":["{{randomInt 1 9}}", 2],"op":"MUL"}]"#,
    ]);
    let s = s.unwrap_or_else(|| panic!("{err}"));
    assert_eq!(s.counts.success, 40, "{:?}", s.errors);
    assert_eq!(
        s.protocol_details.get("kind").map(String::as_str),
        Some("server streaming")
    );
    assert!(s.protocol_details.contains_key("seed"));
}

#[test]
fn unavailable_and_a_dead_server_are_call_errors() {
    let (_srv, addrs, _) = serve(&["grpc", "--listen", "127.0.0.1:0", "--error-rate", "0.3"]);
    let url = format!("grpc://{}", addrs[0]);
    let (_, s, err) = compute(&url, ADD, 400, &[]);
    let s = s.unwrap_or_else(|| panic!("{err}"));
    assert!(
        s.counts.call_error > 50 && s.counts.success > 200,
        "{:?}",
        s.counts
    );
    assert!(
        s.errors.iter().any(|e| e.message.contains("Unavailable")),
        "{:?}",
        s.errors
    );
    // with the schema given, a server that is not there fails each call as call_error
    let p = proto();
    let (_, s, err) = run_json(&[
        "grpc://127.0.0.1:1",
        "--call",
        "calc.Calc/Compute",
        "--proto",
        &p,
        "-n",
        "5",
    ]);
    let s = s.unwrap_or_else(|| panic!("{err}"));
    assert_eq!(s.counts.call_error, 5, "{:?}", s.errors);
}

#[test]
fn bad_grpc_input_is_one_line_before_the_first_load() {
    let (_srv, addrs, _) = serve(&["grpc", "--listen", "127.0.0.1:0"]);
    let (_http, haddrs, _) = serve(&["http", "--listen", "127.0.0.1:0"]);
    let url = format!("grpc://{}", addrs[0]);
    let no_reflection = format!("grpc://{}", haddrs[0]);
    let p = proto();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![&url, "-n", "1"], "--call"),
        (
            vec![
                &url,
                "--call",
                "calc.Calc/Compute",
                "--proto",
                "/nonexistent/x.proto",
                "-n",
                "1",
            ],
            "/nonexistent/x.proto",
        ),
        (
            vec![&url, "--call", "calc.Calc/Nope", "-n", "1"],
            "has no method Nope",
        ),
        (
            vec![
                &url,
                "--call",
                "calc.Nope/Compute",
                "--proto",
                &p,
                "-n",
                "1",
            ],
            "no service calc.Nope",
        ),
        (
            vec![
                &url,
                "--call",
                "calc.Calc/Compute",
                "--message",
                r#"{"operands":"x"}"#,
                "-n",
                "1",
            ],
            "does not fit calc.CalcRequest",
        ),
        (
            vec![
                &url,
                "--call",
                "calc.Calc/Compute",
                "--message",
                r#"{"nope":1}"#,
                "-n",
                "1",
            ],
            "does not fit calc.CalcRequest",
        ),
        (
            vec![&no_reflection, "--call", "calc.Calc/Compute", "-n", "1"],
            "reflection",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["run"];
        all.extend_from_slice(&args);
        let out = run(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// A server nobody here wrote: Python's grpcio, with or without reflection.
struct Peer {
    _process: Server,
    url: String,
}

impl Peer {
    fn start(reflection: bool) -> Peer {
        let fds = tmp("peer-calc.protoset");
        std::fs::write(&fds, loadgen_servers::grpc::DESCRIPTOR).unwrap();
        let fds = fds.to_str().unwrap();
        let args: &[&str] = if reflection {
            &[fds, "reflection"]
        } else {
            &[fds]
        };
        let (server, port) = python_peer("grpc_calc.py", args);
        Peer {
            _process: server,
            url: format!("grpc://127.0.0.1:{port}"),
        }
    }
}

#[test]
#[cfg_attr(
    not(has_grpcio),
    ignore = "needs Python grpcio (pip install grpcio grpcio-reflection)"
)]
fn interop_with_python_grpcio_by_proto_and_by_reflection() {
    let p = proto();
    for reflection in [false, true] {
        let peer = Peer::start(reflection);
        let schema: Vec<&str> = if reflection {
            vec![]
        } else {
            vec!["--proto", &p]
        };
        let mut args = vec![
            peer.url.as_str(),
            "--call",
            "calc.Calc/Compute",
            "--message",
            ADD,
            "-n",
            "200",
            "--expect-body",
            "python says 17",
        ];
        args.extend_from_slice(&schema);
        let (code, s, err) = run_json(&args);
        assert_eq!(code, Some(0), "reflection {reflection}: {err}");
        let s = s.unwrap();
        assert_eq!(
            s.counts.success, 200,
            "reflection {reflection}: {:?}",
            s.errors
        );
        let mut args = vec![
            peer.url.as_str(),
            "--call",
            "calc.Calc/Compute",
            "--message",
            r#"{"operands":[1,0],"op":"DIV"}"#,
            "-n",
            "20",
        ];
        args.extend_from_slice(&schema);
        let (_, s, err) = run_json(&args);
        let s = s.unwrap_or_else(|| panic!("{err}"));
        assert_eq!(s.counts.callee_error, 20, "{:?}", s.errors);
        assert!(
            s.errors[0]
                .message
                .contains("InvalidArgument: division by zero"),
            "{:?}",
            s.errors
        );
        // a status message of control sequences is shown, not obeyed
        let mut args = vec![
            peer.url.as_str(),
            "--call",
            "calc.Calc/Compute",
            "--message",
            r#"{"operands":[666,1]}"#,
            "-n",
            "3",
        ];
        args.extend_from_slice(&schema);
        let out = run(&[&["run"][..], &args].concat());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("\\u001b[2J"), "{text}");
        assert!(
            !out.stdout.iter().any(|&b| b < 0x20 && b != b'\n'),
            "{text}"
        );
    }
}

#[test]
fn grpcs_with_a_self_signed_certificate() {
    let (c, k) = cert("grpcs");
    let (c, k) = (c.as_str(), k.as_str());
    let (_srv, addrs, _) = serve(&[
        "grpc",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        c,
        "--tls-key",
        k,
    ]);
    let url = format!("grpcs://{}", addrs[0]);
    let (code, s, err) = compute(&url, ADD, 50, &["--cacert", c]);
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    assert_eq!(s.counts.success, 50, "{:?}", s.errors);
    assert_eq!(
        s.protocol_details.get("tls").map(String::as_str),
        Some("yes")
    );
    // not trusted: reflection cannot even ask
    let out = run(&["run", &url, "--call", "calc.Calc/Compute", "-n", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
}

#[test]
fn demo_over_grpc_runs_out_of_the_box() {
    let out = run(&[
        "demo",
        "--grpc",
        "-d",
        "1s",
        // the demo's 50 ms timeout would make a busy machine's stall fail loads
        "-t",
        "1s",
        "-r",
        "300",
        "--json",
        "-",
        "--summary",
        "none",
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let s = parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(
        (s.protocol.as_str(), s.counts.success),
        ("grpc", 300),
        "{:?}",
        s.errors
    );
    assert!(err.contains("gRPC calc server on 127.0.0.1:"), "{err}");
}
