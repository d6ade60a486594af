//! The floor of tests/bench/dns.sh: a bare UDP responder with no DNS logic. It
//! echoes each datagram with the QR bit set, one recv_from and one send_to per
//! query on one blocking socket, as lanseal's UDP threads do; what lanseal costs
//! above this is what its answer path costs. Built by dns.sh with plain rustc:
//!
//!   rustc -C opt-level=3 -o target/bench-floor tests/bench/floor.rs
//!   target/bench-floor 127.0.0.1:15357
use std::net::UdpSocket;

fn main() {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:15357".into());
    let socket = match UdpSocket::bind(&address) {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("bench-floor: cannot bind {address}: {e}");
            std::process::exit(1);
        }
    };
    let mut buf = [0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf) else {
            continue;
        };
        if len >= 3 {
            buf[2] |= 0x80;
            let _ = socket.send_to(&buf[..len], peer);
        }
    }
}
