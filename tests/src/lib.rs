//! End-to-end tests across processes: several daemons, invite and join, partitions and NAT in
//! network namespaces, crash and restart; load and latency benchmarks. Not needed to build the
//! daemon. The ledger's own simulator and property tests live beside it in `server/ledger/tests`.
//!
//! [`Node`] runs the real `openpact` binary as a process on a temp data dir, REST and the peer
//! port on loopback, and talks to it over REST (and the CLI) as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The `openpact` binary: `OPENPACT_BIN`, else the one cargo built next to this test.
pub fn bin() -> PathBuf {
    if let Some(b) = std::env::var_os("OPENPACT_BIN") {
        return PathBuf::from(b);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> -> target/<profile>/openpact
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("openpact"))
        .unwrap_or_default();
    assert!(
        path.exists(),
        "{} is missing: build the daemon first (cargo build -p openpact-server, with --release for release tests), or set OPENPACT_BIN",
        path.display()
    );
    path
}

/// A daemon run as a process, as `openpact start` runs it.
pub struct Node {
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:<rest port>`.
    pub base: String,
    /// The REST bearer token.
    pub token: String,
    /// The UDP peer port.
    pub p2p_port: u16,
    http: reqwest::Client,
    running: bool,
    bootstrap: Vec<String>,
}

/// What an HTTP call answered.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The JSON body (Null when empty or not JSON).
    pub body: Value,
}

impl Reply {
    /// The body, after checking the status is 200.
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "expected 200, got {self:?}");
        self.body
    }

    /// The error code of an error envelope.
    pub fn code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

impl Node {
    /// Starts a daemon on a new data dir: REST on a free port, the peer port on 127.0.0.1.
    pub async fn start() -> Node {
        Node::start_with(&[]).await
    }

    /// A data dir with no daemon yet: a verb such as `join` starts one, then [`Node::adopt`].
    pub fn unstarted() -> Node {
        let dir = tempfile::Builder::new()
            .prefix("ope2e")
            .tempdir_in("/tmp")
            .expect("temp dir");
        Node {
            dir,
            base: String::new(),
            token: String::new(),
            p2p_port: 0,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
            running: false,
            bootstrap: Vec::new(),
        }
    }

    /// Takes over the daemon something else started on this data dir: reads where it listens.
    pub fn adopt(&mut self) {
        self.running = true;
        self.read_daemon_file();
    }

    /// The same, finding peers through the seeds `bootstrap` (`host:port`).
    pub async fn start_with(bootstrap: &[String]) -> Node {
        let mut node = Node::unstarted();
        node.bootstrap = bootstrap.to_vec();
        node.launch(0);
        node
    }

    /// The data dir.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `openpact <args>` on this data dir.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--data-dir")
            .arg(self.root())
            .args(args)
            .env_remove("OPENPACT_DATA_DIR")
            .env_remove("OPENPACT_PACT")
            .env_remove("OPENPACT_P2P_PORT")
            .env("OPENPACT_P2P_HOST", "127.0.0.1")
            // Tests and benchmarks drive the daemon harder than the default 3,000/min.
            .env("OPENPACT_RATE_LIMIT", "0")
            .stdin(Stdio::null());
        c
    }

    /// Runs `openpact <args>`.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run openpact")
    }

    /// Runs `openpact <args>`, which must succeed; the JSON it printed (stdout is a pipe).
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "openpact {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("openpact {args:?} printed no JSON ({e})"))
    }

    /// Starts the daemon process (detached), the peer port at `p2p_port` (0: any), and reads
    /// where it listens.
    fn launch(&mut self, p2p_port: u16) {
        let port = p2p_port.to_string();
        let mut args = vec![
            "start",
            "--port",
            "0",
            "--no-dashboard",
            "--p2p-host",
            "127.0.0.1",
            "--p2p-port",
            &port,
        ];
        let bootstrap = self.bootstrap.join(",");
        if !bootstrap.is_empty() {
            args.extend(["--bootstrap", &bootstrap]);
        }
        let out = self.cli(&args);
        assert!(
            out.status.success(),
            "openpact start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.running = true;
        self.read_daemon_file();
    }

    fn read_daemon_file(&mut self) {
        let file: Value = serde_json::from_slice(
            &std::fs::read(self.root().join("daemon.json")).expect("daemon.json"),
        )
        .expect("daemon.json is JSON");
        self.base = format!("http://127.0.0.1:{}", file["port"]);
        self.token = file["apiToken"].as_str().unwrap_or_default().to_string();
        self.p2p_port = file["p2pPort"].as_u64().unwrap_or(0) as u16;
        assert_ne!(self.p2p_port, 0, "the daemon records its peer port");
    }

    /// Stops the daemon (`openpact stop`).
    pub fn stop(&mut self) {
        if self.running {
            let out = self.cli(&["stop"]);
            assert!(
                out.status.success(),
                "openpact stop failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            self.running = false;
        }
    }

    /// Starts the stopped daemon again on the same data dir and peer port.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.p2p_port;
        self.launch(port);
    }

    /// Starts the daemon again on the same data dir, on another peer port: peers that
    /// remembered the old one must find it anew.
    pub fn restart_elsewhere(&mut self) {
        self.stop();
        let old = self.p2p_port;
        self.launch(0);
        assert_ne!(self.p2p_port, old, "a new peer port");
    }

    /// An HTTP call with the token.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rq = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        let r = rq.send().await.expect("the daemon answers HTTP");
        let status = r.status().as_u16();
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// GET, expecting 200.
    pub async fn get(&self, path: &str) -> Value {
        self.call("GET", path, None).await.ok()
    }

    /// Creates a pact named `name` (this daemon its creator); its id.
    pub async fn create_pact(&self, name: &str) -> String {
        let r = self
            .call(
                "POST",
                "/v1/pacts",
                Some(json!({"name": name, "display_name": format!("{name}-creator"), "confirm": true})),
            )
            .await
            .ok();
        r["pact_id"].as_str().expect("pact_id").to_string()
    }

    /// Mints an invite for `pact`; the whole answer (token, share URL, nonce, expiry).
    pub async fn mint(&self, pact: &str) -> Value {
        self.call(
            "POST",
            &format!("/v1/pacts/{pact}/invites"),
            Some(json!({"confirm": true})),
        )
        .await
        .ok()
    }

    /// Mints an invite for `pact`; the token.
    pub async fn invite(&self, pact: &str) -> String {
        self.mint(pact).await["token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// Subscribes to the daemon's `GET /v1/events` (SSE); the streaming response.
    pub async fn events(&self) -> reqwest::Response {
        let r = reqwest::Client::new()
            .get(format!("{}/v1/events", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("subscribe to /v1/events");
        assert!(r.status().is_success(), "subscribe: {}", r.status());
        r
    }

    /// Joins `pact` with `token` over REST; the answer.
    pub async fn join(&self, pact: &str, token: &str, name: &str) -> Reply {
        self.call(
            "POST",
            "/v1/pacts/join",
            Some(json!({"key": pact, "token": token, "display_name": name, "confirm": true})),
        )
        .await
    }

    /// Records knowledge in `pact`; the entry id.
    pub async fn record(&self, pact: &str, content: &str) -> String {
        let r = self
            .call(
                "POST",
                &format!("/v1/pacts/{pact}/knowledge"),
                Some(json!({"topic": "e2e", "content": content})),
            )
            .await
            .ok();
        r["id"].as_str().expect("id").to_string()
    }

    /// The pact's status.
    pub async fn status(&self, pact: &str) -> Value {
        self.get(&format!("/v1/pacts/{pact}/status")).await
    }

    /// The content of every knowledge entry in `pact`, oldest first.
    pub async fn knowledge(&self, pact: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/pacts/{pact}/knowledge?limit=500&order=asc");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&path).await;
            for e in page["entries"].as_array().into_iter().flatten() {
                out.push(
                    e["payload"]["content"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            match page["cursor"].as_str() {
                Some(c) if page["has_more"] == true => cursor = Some(c.to_string()),
                _ => return out,
            }
        }
    }
}

/// A seed node (`openpact seed`) on a free loopback port.
pub struct SeedNode {
    _dir: tempfile::TempDir,
    child: std::process::Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
}

impl SeedNode {
    /// Starts one and reads where it listens.
    pub fn start() -> SeedNode {
        use std::io::BufRead as _;
        let dir = tempfile::Builder::new()
            .prefix("opseed")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let mut child = Command::new(bin())
            .arg("--data-dir")
            .arg(dir.path())
            .args(["seed", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the seed");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the seed's first line");
        let addr = line
            .split_whitespace()
            .nth(3)
            .unwrap_or_else(|| panic!("an address in {line:?}"))
            .to_string();
        SeedNode {
            _dir: dir,
            child,
            addr,
        }
    }
}

impl Drop for SeedNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.running {
            let _ = self.cli(&["stop", "--timeout", "2000"]);
        }
    }
}

/// Polls `check` every 20 ms until it gives `Some`, or fails after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
