//! DNS rebinding protection (as dnsmasq's `stop-dns-rebind`): an upstream answer
//! that points a public name at an address only a LAN can mean is dropped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::dns::ipname;
use crate::dns::wire::{self, TYPE_A, TYPE_AAAA};

/// True when the answer section holds an address only a LAN can mean (private,
/// loopback, link-local, ULA) or none at all (0.0.0.0/8, ::): a DNS rebinding
/// attempt. A malformed answer counts as one too.
pub fn rebinds(response: &[u8], question_end: usize) -> bool {
    let Some(count) = response.get(6..8).map(|c| u16::from_be_bytes([c[0], c[1]])) else {
        return true;
    };
    for record in wire::records(response, question_end).take(usize::from(count)) {
        let Some(record) = record else {
            return true;
        };
        let ip: IpAddr = match (record.rtype, record.data.len()) {
            (TYPE_A, 4) => Ipv4Addr::new(
                record.data[0],
                record.data[1],
                record.data[2],
                record.data[3],
            )
            .into(),
            (TYPE_AAAA, 16) => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(record.data);
                let v6 = Ipv6Addr::from(octets);
                v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
            }
            _ => continue,
        };
        let nowhere = match ip {
            IpAddr::V4(v4) => v4.octets()[0] == 0,
            IpAddr::V6(v6) => v6.is_unspecified(),
        };
        if nowhere || ipname::is_private(ip) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::HEADER_BYTES;

    /// An answer to `a.test A` with one record of `rtype` and `data`.
    fn answer(rtype: u16, data: &[u8]) -> (Vec<u8>, usize) {
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(b"\x01a\x04test\x00\x00\x01\x00\x01");
        let question_end = m.len();
        assert_eq!(question_end, HEADER_BYTES + 12);
        m.extend_from_slice(&[0xc0, 12]);
        m.extend_from_slice(&rtype.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 60, 0, data.len() as u8]);
        m.extend_from_slice(data);
        (m, question_end)
    }

    fn rebinding(rtype: u16, data: &[u8]) -> bool {
        let (m, end) = answer(rtype, data);
        rebinds(&m, end)
    }

    #[test]
    fn rebinding_addresses() {
        assert!(rebinding(1, &[192, 168, 1, 1]));
        assert!(rebinding(1, &[127, 0, 0, 1]));
        assert!(rebinding(1, &[0, 0, 0, 0]));
        assert!(!rebinding(1, &[93, 184, 216, 34]));
        let mut fd = [0u8; 16];
        fd[0] = 0xfd;
        assert!(rebinding(28, &fd));
        let mut mapped = [0u8; 16];
        mapped[10..].copy_from_slice(&[0xff, 0xff, 10, 0, 0, 1]);
        assert!(rebinding(28, &mapped));
        let mut public = [0u8; 16];
        public[..2].copy_from_slice(&[0x20, 0x01]);
        assert!(!rebinding(28, &public));
        assert!(!rebinding(16, b"\x03abc"));
        let (good, end) = answer(1, &[93, 184, 216, 34]);
        for n in end..good.len() {
            assert!(rebinds(&good[..n], end) || n == end);
        }
    }
}
