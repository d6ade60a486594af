//! Process behaviour against the real binary: the pidfile, `--daemon`
//! detaching, `log_file` (and following a rotation on SIGHUP), and a SIGTERM
//! under load that answers every query already taken before exiting 0.
//! (Privileged ports and the drop to `user`: tests/privileges.rs. SIGHUP with a
//! good and a broken config: tests/dns.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

const ZONE: &str = "[[zone]]\nname = \"home.test\"\nrecords = [\"nas A 192.168.1.10\"]\n";

fn alive(pid: u32) -> bool {
    // Not a zombie: a process that exited but is not reaped still has /proc.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// `lanseal run -c CONFIG --pidfile PIDFILE`, its stderr discarded.
fn run_with_pidfile(config: &std::path::Path, pidfile: &std::path::Path) -> std::process::Child {
    Command::new(BIN)
        .args(["run", "-c", config.to_str().unwrap(), "--pidfile"])
        .arg(pidfile)
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A SIGTERM the moment the pidfile appears (the store, the API's token and
/// the threads not there yet) still stops lanseal gracefully: exit 0, pidfile
/// removed. Signals used to be blocked only after the state was opened, and a
/// SIGTERM in between killed the process with its pidfile left behind.
#[test]
fn sigterm_during_start_up_is_a_graceful_stop() {
    for round in 0..5 {
        let dir = TempDir::new();
        let pidfile = dir.0.join("lanseal.pid");
        let config = format!(
            "state_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n\
             [api]\nlisten = \"127.0.0.1:0\"\n{ZONE}",
            dir.0.join("state").display()
        );
        let path = dir.write("lanseal.toml", &config);
        let mut child = run_with_pidfile(&path, &pidfile);
        let deadline = Instant::now() + DEADLINE;
        while !pidfile.exists() && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(pidfile.exists(), "round {round}: no pidfile");
        run("kill", &["-TERM", &child.id().to_string()]);
        let status = wait_timeout(&mut child, DEADLINE).expect("exits on SIGTERM");
        assert_eq!(status.code(), Some(0), "round {round}: {status:?}");
        assert!(!pidfile.exists(), "round {round}: pidfile left behind");
    }
}

#[test]
fn pidfile_is_written_locked_and_removed() {
    let dir = TempDir::new();
    let pidfile = dir.0.join("lanseal.pid");
    let config = format!("[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n{ZONE}");
    let path = dir.write("lanseal.toml", &config);
    let mut child = run_with_pidfile(&path, &pidfile);
    assert!(eventually(DEADLINE, || std::fs::read_to_string(&pidfile)
        .is_ok_and(|text| text == format!("{}\n", child.id()))));
    // A second one with the same pidfile refuses, and leaves the file alone.
    let second = run(
        BIN,
        &[
            "run",
            "-c",
            path.to_str().unwrap(),
            "--pidfile",
            pidfile.to_str().unwrap(),
        ],
    );
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("another lanseal holds it"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", child.id())
    );
    run("kill", &["-TERM", &child.id().to_string()]);
    let status = wait_timeout(&mut child, DEADLINE).expect("exits on SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(!pidfile.exists(), "removed at a graceful exit");
}

#[test]
fn daemon_detaches_and_keeps_serving() {
    let dir = TempDir::new();
    let (pidfile, log) = (dir.0.join("lanseal.pid"), dir.0.join("lanseal.log"));
    let port = free_dns_port();
    let config = format!(
        "log_file = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:{port}\"]\nresolv_file = \"\"\n{ZONE}",
        log.display()
    );
    let path = dir.write("lanseal.toml", &config);
    let started = Instant::now();
    let mut parent = Command::new(BIN)
        .args(["run", "--daemon", "-c", path.to_str().unwrap(), "--pidfile"])
        .arg(&pidfile)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let parent_pid = parent.id();
    let status = wait_timeout(&mut parent, DEADLINE).expect("the starting process returns");
    assert_eq!(status.code(), Some(0), "{:?}", parent.wait_with_output());
    assert!(started.elapsed() < DEADLINE);
    let mut pid = 0;
    assert!(eventually(DEADLINE, || {
        pid = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        pid != 0
    }));
    assert_ne!(pid, parent_pid, "the pidfile names the detached process");
    assert!(alive(pid));
    // A session of its own (daemonize forks twice: the session's leader is the
    // first child, so the daemon can never take a terminal again), no terminal.
    let fields = |pid: u32| -> Vec<String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = stat.rsplit(')').next().unwrap().to_string();
        after.split_whitespace().map(str::to_string).collect()
    };
    let (daemon, test) = (fields(pid), fields(std::process::id()));
    assert_ne!(daemon[3], test[3], "a new session: {daemon:?}");
    assert_eq!(daemon[4], "0", "no controlling terminal: {daemon:?}");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(
        dig(addr, &["+short", "nas.home.test"]).trim(),
        "192.168.1.10"
    );
    // Its log went to log_file.
    assert!(eventually(DEADLINE, || std::fs::read_to_string(&log)
        .is_ok_and(|text| text.contains("listening on 127.0.0.1:"))));
    // A rotated log: after SIGHUP the lines go to the new file.
    let rotated = dir.0.join("lanseal.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    run("kill", &["-HUP", &pid.to_string()]);
    assert!(eventually(DEADLINE, || std::fs::read_to_string(&log)
        .is_ok_and(|text| text.contains("reloaded"))));
    run("kill", &["-TERM", &pid.to_string()]);
    assert!(eventually(DEADLINE, || !alive(pid)), "stops on SIGTERM");
    assert!(!pidfile.exists());
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("SIGTERM: exiting")
    );
}

/// Whether the upstream has been released, and the questions it holds.
type Held = std::sync::Arc<std::sync::Mutex<(bool, Vec<(Message, SocketAddr)>)>>;

/// A fake upstream (no real component holds its answers on purpose): it keeps
/// every question until `release` is called, then answers each A question it
/// holds, and every later one at once, with 192.0.2.1.
struct HeldUpstream {
    addr: SocketAddr,
    held: Held,
    socket: UdpSocket,
}

fn reply(socket: &UdpSocket, query: &Message, peer: SocketAddr) {
    let mut m = Message::response(query.metadata.id, query.metadata.op_code);
    m.metadata.recursion_available = true;
    let q = query.queries[0].clone();
    m.add_answer(hickory_proto::rr::Record::from_rdata(
        q.name().clone(),
        60,
        hickory_proto::rr::RData::A(std::net::Ipv4Addr::new(192, 0, 2, 1).into()),
    ));
    m.add_query(q);
    let _ = socket.send_to(&m.to_vec().unwrap(), peer);
}

impl HeldUpstream {
    fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let held = std::sync::Arc::new(std::sync::Mutex::new((false, Vec::new())));
        let (receiver, shared) = (socket.try_clone().unwrap(), held.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = receiver.recv_from(&mut buf) {
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut held = shared.lock().unwrap();
                if held.0 {
                    reply(&receiver, &query, peer);
                } else {
                    held.1.push((query, peer));
                }
            }
        });
        Self { addr, held, socket }
    }

    /// Distinct questions held so far.
    fn questions(&self) -> usize {
        let held = self.held.lock().unwrap();
        let names: std::collections::HashSet<_> = held
            .1
            .iter()
            .map(|(q, _)| q.queries[0].name().clone())
            .collect();
        names.len()
    }

    fn release(&self) {
        let mut held = self.held.lock().unwrap();
        held.0 = true;
        for (query, peer) in held.1.drain(..) {
            reply(&self.socket, &query, peer);
        }
    }
}

#[test]
fn sigterm_answers_what_was_taken_then_exits_0() {
    let upstream = HeldUpstream::start();
    let mut server = Server::start(
        &format!(
            "upstreams = [\"{}\"]\nrebind_protection = false",
            upstream.addr
        ),
        "",
    );
    let addr = server.addr;
    // Twenty questions held at the upstream: in flight when the stop comes.
    let clients: Vec<_> = (0..20)
        .map(|i| {
            std::thread::spawn(move || {
                let message = query_message(&format!("q{i}.slow.test"), RecordType::A, false);
                udp_query_once(addr, &message, Duration::from_secs(10))
            })
        })
        .collect();
    assert!(eventually(DEADLINE, || upstream.questions() == 20));
    server.signal("TERM");
    server.wait_log("SIGTERM: stopping");
    // Taken after the stop: dropped unread.
    let late = UdpSocket::bind("127.0.0.1:0").unwrap();
    late.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let message = query_message("late.slow.test", RecordType::A, false);
    late.send_to(&message.to_vec().unwrap(), addr).unwrap();
    upstream.release();
    // Every one taken before is answered, from the upstream.
    for client in clients {
        let answer = client.join().expect("answered before the exit");
        assert_eq!(answers(&answer).len(), 1, "{answer:?}");
    }
    assert_eq!(server.wait_exit(), Some(0));
    let mut buf = [0u8; 512];
    assert!(
        late.recv_from(&mut buf).is_err(),
        "no answer after the stop"
    );
}
