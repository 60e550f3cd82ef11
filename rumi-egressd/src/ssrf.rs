//! Which destination addresses a pack may reach: the default-deny table.
//!
//! Every address a host name resolves to is classified here, and the proxy connects only to
//! an address that passed (never resolving again), so DNS rebinding between check and use is
//! impossible. Denied: loopback, private (RFC 1918, ULA), link-local (cloud metadata at
//! 169.254.169.254), CGNAT (Alibaba metadata 100.100.100.200), multicast, unspecified,
//! broadcast, reserved, documentation, benchmarking, IETF-protocol (Oracle metadata
//! 192.0.0.192), and for IPv6 anything outside global unicast `2000::/3` plus the special
//! blocks inside it. Addresses that embed an IPv4 address are handled explicitly:
//! IPv4-mapped (`::ffff:a.b.c.d`) is unwrapped and checked as IPv4; IPv4-compatible
//! (`::a.b.c.d`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`), 6to4 (`2002::/16`) and Teredo
//! (`2001::/32`) are denied outright, as their embedded address could be anything.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

const DENY_V4: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "192.175.48.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
];

const DENY_V6: &[&str] = &[
    "::/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];

/// Why an address was refused (the audit's `blocked_reason`).
pub const INTERNAL_IP_BLOCKED: &str = "internal_ip_blocked";

/// The address policy: the deny table plus an optional, dangerous test-only allow list.
#[derive(Debug, Clone)]
pub struct AddrPolicy {
    deny: Vec<IpNet>,
    allow_override: Vec<IpNet>,
}

impl AddrPolicy {
    /// The default table with `allow_override` ranges exempted (`RUMI_EGRESS_ALLOW_CIDRS`).
    pub fn new(allow_override: Vec<IpNet>) -> Self {
        let deny = DENY_V4
            .iter()
            .chain(DENY_V6)
            .map(|s| s.parse().expect("the deny table is valid CIDR"))
            .collect();
        Self { deny, allow_override }
    }

    /// Whether a pack may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        // Unwrap IPv4-mapped first so "::ffff:127.0.0.1" is judged as 127.0.0.1 everywhere.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.allow_override.iter().any(|n| n.contains(&ip)) {
            return true;
        }
        match ip {
            IpAddr::V4(v4) => v4 != Ipv4Addr::BROADCAST && !self.deny.iter().any(|n| n.contains(&ip)),
            IpAddr::V6(v6) => {
                let global_unicast = (v6.segments()[0] & 0xe000) == 0x2000;
                global_unicast && !self.deny.iter().any(|n| n.contains(&ip))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_ranges_are_denied_and_public_addresses_allowed() {
        let p = AddrPolicy::new(vec![]);
        let denied = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.100.100.200",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.192",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "1::1",
            "4000::1",
        ];
        for a in denied {
            assert!(!p.allows(a.parse().unwrap()), "{a} must be denied");
        }
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "::ffff:8.8.8.8",
            "2606:4700:4700::1111",
            "2a00:1450::1",
        ] {
            assert!(p.allows(a.parse().unwrap()), "{a} must be allowed");
        }
    }

    #[test]
    fn the_override_exempts_only_its_range() {
        let p = AddrPolicy::new(vec!["127.0.0.1/32".parse().unwrap()]);
        assert!(p.allows("127.0.0.1".parse().unwrap()));
        assert!(p.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!p.allows("127.0.0.2".parse().unwrap()));
        assert!(!p.allows("::1".parse().unwrap()));
    }
}
