//! PostgreSQL as the shared store of several delegate nodes (feature
//! `postgres`), against the real binary: Debian's `postgresql` started by the
//! test as an unprivileged cluster in a temp dir (loopback only, trust auth on
//! 127.0.0.1), two `lanseal run` delegate nodes on it, the API driven with
//! curl, the DNS asked with hickory's codec. Run with
//! `cargo test --features postgres --test postgres`; without the feature only
//! the config refusal is tested.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

/// A build without the feature refuses the backend at its line, exit 2.
#[cfg(not(feature = "postgres"))]
#[test]
fn backend_postgres_without_the_feature_is_a_config_error() {
    use common::{BIN, TempDir};
    use std::process::Command;
    let dir = TempDir::new();
    let config = dir.write(
        "lanseal.toml",
        "[dns]\nresolv_file = \"\"\n[delegate]\nzone = \"auth.test\"\nns = [\"ns1.auth.test.\"]\n\
         ns_addresses = [\"192.0.2.53\"]\n[store]\nbackend = \"postgres\"\nurl_file = \"/x\"\n",
    );
    let out = Command::new(BIN)
        .args(["check-config", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let expected = format!(
        "{}:8: store.backend = \"postgres\": this lanseal was built without the postgres feature",
        config.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[cfg(feature = "postgres")]
mod shared {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use hickory_proto::rr::RecordType;
    use serde_json::Value;

    use super::common::*;

    const PREFIX: &str = "/api/v1/acme-dns-compat";
    /// How long a change may take to reach the other node by LISTEN/NOTIFY. The
    /// poll fallback alone takes up to 5 s, so a broken notification path
    /// fails this.
    const NOTIFY_BOUND: Duration = Duration::from_millis(1500);

    /// A PostgreSQL cluster of our own, run as `nobody` (initdb refuses root),
    /// data and socket in a temp dir, listening on 127.0.0.1 only; stopped on drop.
    struct Cluster {
        dir: TempDir,
        port: u16,
        bin: PathBuf,
        postgres: Child,
    }

    /// The newest `/usr/lib/postgresql/<version>/bin` with initdb.
    fn postgres_bin() -> PathBuf {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's postgresql (tests/run.sh installs it)")
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let version = path.file_name()?.to_str()?.parse().ok()?;
                path.join("bin/initdb")
                    .exists()
                    .then(|| (version, path.join("bin")))
            })
            .collect();
        versions.sort();
        versions
            .pop()
            .expect("no /usr/lib/postgresql/*/bin/initdb")
            .1
    }

    /// `command` as nobody when we are root (as in CI), else as ourselves.
    fn unprivileged(program: &Path) -> Command {
        if nix_is_root() {
            let mut command = Command::new("setpriv");
            command
                .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                .arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn nix_is_root() -> bool {
        let out = Command::new("id").arg("-u").output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "0"
    }

    fn give_to_nobody(path: &Path) {
        std::fs::create_dir_all(path).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
        if nix_is_root() {
            let status = Command::new("chown")
                .args(["nobody:nogroup"])
                .arg(path)
                .status()
                .unwrap();
            assert!(status.success());
        }
    }

    impl Cluster {
        fn start() -> Cluster {
            let bin = postgres_bin();
            let dir = TempDir::new();
            std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
            let data = dir.0.join("data");
            let sockets = dir.0.join("sockets");
            give_to_nobody(&data);
            give_to_nobody(&sockets);
            let out = unprivileged(&bin.join("initdb"))
                .args(["-D"])
                .arg(&data)
                .args(["-A", "trust", "-U", "lanseal", "-E", "UTF8", "--no-sync"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "initdb: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let port = free_tcp_port();
            let postgres = spawn_postgres(&bin, &dir.0, port);
            let cluster = Cluster {
                dir,
                port,
                bin,
                postgres,
            };
            cluster.wait_ready();
            cluster.psql_db("postgres", "CREATE DATABASE lanseal");
            cluster
        }

        fn wait_ready(&self) {
            let ready = eventually(Duration::from_secs(30), || {
                Command::new(self.bin.join("pg_isready"))
                    .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                    .status()
                    .is_ok_and(|s| s.success())
            });
            assert!(ready, "postgres did not start");
        }

        /// Fast shutdown (SIGINT: the clients' connections are closed), then
        /// the hard way.
        fn stop(&mut self) {
            let pid = self.postgres.id().to_string();
            let _ = Command::new("kill").args(["-INT", &pid]).status();
            if wait_timeout(&mut self.postgres, Duration::from_secs(10)).is_none() {
                let _ = self.postgres.kill();
                let _ = self.postgres.wait();
            }
        }

        /// The same cluster again, on the same port.
        fn restart(&mut self) {
            self.stop();
            self.postgres = spawn_postgres(&self.bin, &self.dir.0, self.port);
            self.wait_ready();
        }

        fn psql_db(&self, db: &str, sql: &str) -> String {
            let out = Command::new(self.bin.join("psql"))
                .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"])
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "lanseal", "-d", db, "-c", sql])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "psql {sql}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        }

        fn psql(&self, sql: &str) -> String {
            self.psql_db("lanseal", sql)
        }

        /// The URL in a 0600 file, as the daemon wants it.
        fn url_file(&self) -> PathBuf {
            self.url_file_at("127.0.0.1", "lanseal.url")
        }

        /// [`Cluster::url_file`] naming the server as `host`, in file `name`.
        fn url_file_at(&self, host: &str, name: &str) -> PathBuf {
            let path = self.dir.0.join(name);
            std::fs::write(
                &path,
                format!("postgresql://lanseal@{host}:{}/lanseal\n", self.port),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            path
        }

        /// The values stored for `subdomain`, newest first.
        fn values(&self, subdomain: &str) -> Vec<String> {
            let out = self.psql(&format!(
                "SELECT value FROM txt WHERE subdomain = '{subdomain}' ORDER BY seq DESC"
            ));
            out.lines().map(str::to_string).collect()
        }
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            self.stop();
        }
    }

    /// `postgres` on the cluster in `dir`, listening on 127.0.0.1:`port` only.
    fn spawn_postgres(bin: &Path, dir: &Path, port: u16) -> Child {
        unprivileged(&bin.join("postgres"))
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-p",
                &port.to_string(),
                "-k",
            ])
            .arg(dir.join("sockets"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// One lanseal delegate node on the cluster.
    struct Node {
        server: Server,
        api: String,
    }

    /// A delegate node's config on the database in `url_file`; `top` goes
    /// before the sections (e.g. `user = "nobody"`).
    fn node_config(top: &str, state: &Path, url_file: &Path) -> String {
        format!(
            "log_level = \"debug\"\n{top}state_dir = \"{}\"\n\
             [dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n\
             [delegate]\nzone = \"auth.test\"\nns = [\"ns1.auth.test.\"]\nns_addresses = [\"192.0.2.53\"]\n\
             api_listen = \"127.0.0.1:0\"\napi_prefix = \"{PREFIX}\"\n\
             [store]\nbackend = \"postgres\"\nurl_file = \"{}\"\n",
            state.display(),
            url_file.display()
        )
    }

    impl Node {
        fn start(state: &Path, url_file: &Path) -> Node {
            let config = node_config("", state, url_file);
            let server = Server::start_config(&config);
            let api = server.delegate_api();
            Node { server, api }
        }

        fn register(&self) -> (u16, Value) {
            curl(&self.api, &format!("{PREFIX}/register"), &[], None, None)
        }

        fn update(&self, account: &Value, txt: &str, from: Option<&str>) -> u16 {
            update(&self.api, account, txt, from)
        }

        /// The TXT values the node's DNS answers for `subdomain`, sorted.
        fn served(&self, subdomain: &str) -> Vec<String> {
            let name = format!("{subdomain}.auth.test");
            let message = udp_query(self.dns(), &query_message(&name, RecordType::TXT, true));
            let mut values: Vec<String> = answers(&message)
                .iter()
                .filter_map(|a| {
                    a.split_whitespace()
                        .nth(3)
                        .map(|v| v.trim_matches('"').into())
                })
                .collect();
            values.sort();
            values
        }

        fn serial(&self) -> u32 {
            let message = udp_query(
                self.dns(),
                &query_message("auth.test", RecordType::SOA, true),
            );
            let soa = answers(&message)
                .into_iter()
                .find(|a| a.contains(" SOA "))
                .expect("a SOA answer");
            soa.split_whitespace().nth(5).unwrap().parse().unwrap()
        }

        fn dns(&self) -> SocketAddr {
            self.server.addr
        }
    }

    /// `curl` a POST to the API at `api` (from the loopback address `from`):
    /// (status, parsed JSON body or Null); status 0 when nothing answered.
    fn curl(
        api: &str,
        path: &str,
        headers: &[&str],
        body: Option<&str>,
        from: Option<&str>,
    ) -> (u16, Value) {
        let base = api.trim_end_matches(PREFIX);
        let mut command = Command::new("curl");
        command.args([
            "-s",
            "-m",
            "20",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
        ]);
        command.arg(format!("{base}{path}"));
        if let Some(from) = from {
            command.args(["--interface", from]);
        }
        for header in headers {
            command.args(["-H", header]);
        }
        if let Some(body) = body {
            command.args(["--data-binary", body]);
        }
        let out = command.output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        let json = serde_json::from_str(body).unwrap_or(Value::Null);
        (status.trim().parse().unwrap_or(0), json)
    }

    fn update(api: &str, account: &Value, txt: &str, from: Option<&str>) -> u16 {
        let user = format!("X-Api-User: {}", account["username"].as_str().unwrap());
        let key = format!("X-Api-Key: {}", account["password"].as_str().unwrap());
        let subdomain = account["subdomain"].as_str().unwrap();
        let body = format!("{{\"subdomain\": \"{subdomain}\", \"txt\": \"{txt}\"}}");
        let path = format!("{PREFIX}/update");
        curl(api, &path, &[&user, &key], Some(&body), from).0
    }

    /// A 43-character value (what ACME clients send) ending in `tag`.
    fn value(tag: &str) -> String {
        format!("{tag:->43}")
    }

    /// How long until `node` serves `expected` for `subdomain` (None: not within `bound`).
    fn time_until_served(
        node: &Node,
        subdomain: &str,
        expected: &[String],
        bound: Duration,
    ) -> Option<Duration> {
        let mut expected = expected.to_vec();
        expected.sort();
        let start = Instant::now();
        while start.elapsed() < bound {
            if node.served(subdomain) == expected {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        (node.served(subdomain) == expected).then(|| start.elapsed())
    }

    /// Register at A, update at B twice: both nodes' DNS answer both values
    /// within the notification bound (the latency is printed), and the SOA
    /// serial is the database's on both.
    #[test]
    fn register_at_one_node_update_at_the_other_both_serve() {
        let cluster = Cluster::start();
        let url = cluster.url_file();
        let (state_a, state_b) = (TempDir::new(), TempDir::new());
        let a = Node::start(&state_a.0, &url);
        let b = Node::start(&state_b.0, &url);
        let (status, account) = a.register();
        assert_eq!(status, 201, "{account}");
        let subdomain = account["subdomain"].as_str().unwrap().to_string();
        // Registered at A: B knows the name at once (NODATA, not NXDOMAIN).
        let name = format!("{subdomain}.auth.test");
        let known = eventually(NOTIFY_BOUND, || {
            let m = udp_query(b.dns(), &query_message(&name, RecordType::TXT, true));
            m.metadata.response_code == hickory_proto::op::ResponseCode::NoError
        });
        assert!(known, "B does not know the account registered at A");
        let first = value("first");
        let second = value("second");
        assert_eq!(b.update(&account, &first, None), 200);
        // B answered after its listener published: no wait at B.
        assert_eq!(b.served(&subdomain), std::slice::from_ref(&first));
        let latency = time_until_served(&a, &subdomain, std::slice::from_ref(&first), NOTIFY_BOUND);
        assert!(latency.is_some(), "A does not serve B's update");
        assert_eq!(b.update(&account, &second, None), 200);
        let both = [first.clone(), second.clone()];
        let latency_2 = time_until_served(&a, &subdomain, &both, NOTIFY_BOUND);
        assert!(latency_2.is_some(), "A does not serve both values");
        assert_eq!(b.served(&subdomain), {
            let mut v = both.to_vec();
            v.sort();
            v
        });
        println!(
            "LISTEN/NOTIFY: B's update served by A after {:?} and {:?}",
            latency.unwrap(),
            latency_2.unwrap()
        );
        let serial: u32 = cluster
            .psql("SELECT serial FROM delegate_serial")
            .parse::<i64>()
            .unwrap() as u32;
        assert!(eventually(NOTIFY_BOUND, || a.serial() == serial));
        assert_eq!(b.serial(), serial);
        let mut stored = cluster.values(&subdomain);
        stored.sort();
        assert_eq!(stored, both);
        // One schema, migrated once, at the version this lanseal knows.
        assert_eq!(
            cluster.psql("SELECT version FROM lanseal_schema"),
            "5",
            "schema version"
        );
    }

    /// Many concurrent updates at B, `kill -9` of B in the middle: every update
    /// B acknowledged is in the database and served by A; B started again on
    /// the same database serves the same, under the same serial.
    #[test]
    fn kill_9_during_a_burst_loses_no_acknowledged_update() {
        const CLIENTS: usize = 8;
        const UPDATES_EACH: usize = 25;
        let cluster = Cluster::start();
        let url = cluster.url_file();
        let (state_a, state_b) = (TempDir::new(), TempDir::new());
        let a = Node::start(&state_a.0, &url);
        let mut b = Node::start(&state_b.0, &url);
        let b_api = b.api.clone();
        let accounts: Vec<Value> = (0..CLIENTS)
            .map(|_| {
                let (status, account) = a.register();
                assert_eq!(status, 201, "{account}");
                account
            })
            .collect();
        let acked = Arc::new(AtomicUsize::new(0));
        let killed = Arc::new(AtomicBool::new(false));
        // Per client: the sequence numbers B acknowledged, in order.
        let clients: Vec<_> = accounts
            .iter()
            .enumerate()
            .map(|(i, account)| {
                let (account, api) = (account.clone(), b_api.clone());
                let (acked, killed) = (acked.clone(), killed.clone());
                std::thread::spawn(move || {
                    // Each client its own loopback address: its own update budget.
                    let from = format!("127.0.0.{}", 10 + i);
                    let mut mine = Vec::new();
                    for n in 0..UPDATES_EACH {
                        match update(&api, &account, &value(&format!("c{i}n{n}")), Some(&from)) {
                            200 => {
                                mine.push(n);
                                acked.fetch_add(1, Ordering::SeqCst);
                            }
                            _ if killed.load(Ordering::SeqCst) => break,
                            status => panic!("update {n} of client {i}: status {status}"),
                        }
                    }
                    mine
                })
            })
            .collect();
        // Mid-burst: a third of the updates acknowledged.
        let third = CLIENTS * UPDATES_EACH / 3;
        assert!(eventually(Duration::from_secs(120), || acked
            .load(Ordering::SeqCst)
            >= third));
        killed.store(true, Ordering::SeqCst);
        b.server.kill();
        let results: Vec<Vec<usize>> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        let total: usize = results.iter().map(Vec::len).sum();
        assert!(
            total < CLIENTS * UPDATES_EACH,
            "the kill came after the burst"
        );
        println!("kill -9 after {total} acknowledged updates");
        let mut expected: HashMap<String, Vec<String>> = HashMap::new();
        for (i, (account, mine)) in accounts.iter().zip(&results).enumerate() {
            let subdomain = account["subdomain"].as_str().unwrap().to_string();
            let stored = cluster.values(&subdomain);
            if let Some(&last) = mine.last() {
                // The last acknowledged value is stored; only the one update
                // in flight at the kill (the next number) may be newer.
                let last = value(&format!("c{i}n{last}"));
                assert!(
                    stored.contains(&last),
                    "{subdomain}: {last} lost: {stored:?}"
                );
                let in_flight = value(&format!("c{i}n{}", mine.len()));
                assert!(
                    stored[0] == last || stored[0] == in_flight,
                    "{subdomain}: {stored:?} after {last}"
                );
            }
            let mut sorted = stored;
            sorted.sort();
            expected.insert(subdomain, sorted);
        }
        // A serves exactly what the database holds.
        for (subdomain, values) in &expected {
            assert!(
                time_until_served(&a, subdomain, values, Duration::from_secs(6)).is_some(),
                "A: {subdomain} is {:?}, the database holds {values:?}",
                a.served(subdomain)
            );
        }
        // B again, on the same state and database: the same answers and serial.
        let b = Node::start(&state_b.0, &url);
        for (subdomain, values) in &expected {
            assert_eq!(&b.served(subdomain), values, "B after restart: {subdomain}");
        }
        assert_eq!(a.serial(), b.serial());
    }

    /// The registration limit per client (20 an hour) is summed over the
    /// nodes: 10 at A and 10 at B, then neither admits a 21st from the same
    /// address. Each node alone has counted only 10. The update budget (a
    /// burst of 50) likewise, summed over both nodes, refused (429) before any
    /// key is looked at.
    #[test]
    fn limits_hold_across_nodes() {
        let cluster = Cluster::start();
        let url = cluster.url_file();
        let (state_a, state_b) = (TempDir::new(), TempDir::new());
        let a = Node::start(&state_a.0, &url);
        let b = Node::start(&state_b.0, &url);
        for n in 0..20 {
            let node = if n % 2 == 0 { &a } else { &b };
            let (status, body) = node.register();
            assert_eq!(status, 201, "registration {n}: {body}");
        }
        let (status, body) = a.register();
        assert_eq!(
            (status, &body["error"]),
            (429, &"too_many_registrations".into())
        );
        assert_eq!(b.register().0, 429);
        // Updates: malformed credentials answer 401 without bcrypt, after the
        // budget is taken.
        let bogus = serde_json::json!({
            "username": "nobody",
            "password": "short",
            "subdomain": "x",
        });
        // Alternating between the nodes until both refuse: the admitted sum
        // is the burst plus what the bucket refilled meanwhile (one every 2 s),
        // far from the 100 two separate budgets would admit.
        let start = Instant::now();
        let (mut admitted, mut refused) = (0u32, [false; 2]);
        for n in 0..200 {
            let node = if n % 2 == 0 { &a } else { &b };
            match node.update(&bogus, &value("x"), None) {
                401 => admitted += 1,
                429 => refused[n % 2] = true,
                status => panic!("update {n}: status {status}"),
            }
            if refused == [true, true] {
                break;
            }
        }
        let refill = start.elapsed().as_secs() as u32 * 30 / 60 + 1;
        assert!(
            refused == [true, true],
            "never refused, {admitted} admitted"
        );
        assert!(
            (50..=50 + refill).contains(&admitted),
            "{admitted} admitted (burst 50, refill {refill})"
        );
        // Another client is not affected.
        assert_eq!(a.update(&bogus, &value("x"), Some("127.0.0.2")), 401);
        let rows: i64 = cluster
            .psql("SELECT COUNT(*) FROM delegate_limits")
            .parse()
            .unwrap();
        assert!(rows >= 3, "shared limit rows: {rows}");
    }

    /// The database away: the nodes' DNS keeps answering from memory, an
    /// update is a 500 `db_error` that changes nothing; the database back:
    /// the nodes connect again (backoff), reload, and serve what it holds,
    /// a change made while a node's listener was away included.
    #[test]
    fn database_away_and_back() {
        let mut cluster = Cluster::start();
        let url = cluster.url_file();
        let (state_a, state_b) = (TempDir::new(), TempDir::new());
        let a = Node::start(&state_a.0, &url);
        let b = Node::start(&state_b.0, &url);
        let (status, account) = a.register();
        assert_eq!(status, 201, "{account}");
        let subdomain = account["subdomain"].as_str().unwrap().to_string();
        let before = value("before");
        assert_eq!(a.update(&account, &before, None), 200);
        assert!(
            time_until_served(&b, &subdomain, std::slice::from_ref(&before), NOTIFY_BOUND)
                .is_some()
        );
        cluster.stop();
        assert_eq!(
            b.served(&subdomain),
            std::slice::from_ref(&before),
            "served from memory"
        );
        let (status, body) = {
            let user = format!("X-Api-User: {}", account["username"].as_str().unwrap());
            let key = format!("X-Api-Key: {}", account["password"].as_str().unwrap());
            let body = format!(
                "{{\"subdomain\": \"{subdomain}\", \"txt\": \"{}\"}}",
                value("lost")
            );
            curl(
                &b.api,
                &format!("{PREFIX}/update"),
                &[&user, &key],
                Some(&body),
                None,
            )
        };
        assert_eq!((status, &body["error"]), (500, &"db_error".into()));
        assert_eq!(a.served(&subdomain), std::slice::from_ref(&before));
        cluster.restart();
        // Written behind the nodes' backs (as another node would while these
        // two reconnect): the reload after the reconnect brings it.
        let behind = value("behind");
        cluster.psql(&format!(
            "INSERT INTO txt (subdomain, value, updated) VALUES ('{subdomain}', '{behind}', 1); \
             UPDATE delegate_serial SET serial = serial + 1"
        ));
        let both = [before.clone(), behind.clone()];
        for node in [&a, &b] {
            assert!(
                time_until_served(node, &subdomain, &both, Duration::from_secs(40)).is_some(),
                "not caught up: {:?}",
                node.served(&subdomain)
            );
        }
        assert_eq!(a.serial(), b.serial());
        let after = value("after");
        assert_eq!(b.update(&account, &after, None), 200);
        assert!(
            time_until_served(
                &a,
                &subdomain,
                &[after.clone(), behind.clone()],
                NOTIFY_BOUND
            )
            .is_some()
        );
    }

    /// Three nodes starting at once on an empty database: every one starts
    /// (the migrations ran once, under the advisory lock), the schema is at
    /// this lanseal's version; a database a newer lanseal wrote is refused.
    #[test]
    fn migrations_run_once_and_a_newer_schema_is_refused() {
        let cluster = Cluster::start();
        let url = Arc::new(cluster.url_file());
        let starts: Vec<_> = (0..3)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let state = TempDir::new();
                    let node = Node::start(&state.0, &url);
                    (node.serial(), state, node)
                })
            })
            .collect();
        let nodes: Vec<_> = starts.into_iter().map(|s| s.join().unwrap()).collect();
        assert!(nodes.iter().all(|(serial, ..)| *serial == nodes[0].0));
        assert_eq!(cluster.psql("SELECT version FROM lanseal_schema"), "5");
        drop(nodes);
        cluster.psql("UPDATE lanseal_schema SET version = 6");
        let state = TempDir::new();
        let config = state.write(
            "lanseal.toml",
            &node_config("", &state.0.join("state"), &url),
        );
        let out = Command::new(BIN)
            .args(["run", "-c"])
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains("schema version 6 was written by a newer lanseal"),
            "{stderr}"
        );
    }

    /// As root with `user = "nobody"` and a host name in the URL: the URL file
    /// (root's, 0600) is read before the privileges drop, the connection (a
    /// name lookup starts a thread) made after it, and the node serves.
    #[test]
    fn unprivileged_node_with_a_host_name() {
        if !nix_is_root() {
            eprintln!("skipped: needs root to drop privileges");
            return;
        }
        let cluster = Cluster::start();
        let url = cluster.url_file_at("localhost", "by-name.url");
        let state = TempDir::new();
        let config = node_config("user = \"nobody\"\n", &state.0.join("state"), &url);
        let server = Server::start_config(&config);
        let node = Node {
            api: server.delegate_api(),
            server,
        };
        let (status, account) = node.register();
        assert_eq!(status, 201, "{account}");
        let subdomain = account["subdomain"].as_str().unwrap();
        let txt = value("unprivileged");
        assert_eq!(node.update(&account, &txt, None), 200);
        assert_eq!(node.served(subdomain), [txt]);
    }

    /// A URL file readable by others, and one asking for TLS, are refused at
    /// start-up with what was expected.
    #[test]
    fn url_file_mode_and_sslmode_are_checked() {
        let dir = TempDir::new();
        let config = |url_file: &Path| {
            dir.write(
                "lanseal.toml",
                &node_config("", &dir.0.join("state"), url_file),
            )
        };
        let url_file = dir.write("pg.url", "postgresql://lanseal@127.0.0.1:1/lanseal\n");
        std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let run = |config: &Path| {
            let out = Command::new(BIN)
                .args(["run", "-c"])
                .arg(config)
                .output()
                .unwrap();
            assert!(!out.status.success());
            String::from_utf8_lossy(&out.stderr).into_owned()
        };
        let stderr = run(&config(&url_file));
        assert!(stderr.contains("mode 0644, expected 0600"), "{stderr}");
        std::fs::write(
            &url_file,
            "postgresql://lanseal@127.0.0.1:1/lanseal?sslmode=require\n",
        )
        .unwrap();
        std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let stderr = run(&config(&url_file));
        assert!(stderr.contains("sslmode=require"), "{stderr}");
        assert!(stderr.contains("without TLS"), "{stderr}");
    }
}
