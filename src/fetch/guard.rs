//! SSRF guard: upstream URLs come from configuration and from redirects that
//! a remote server chooses, so tributary refuses to connect to addresses
//! inside the host or its network, and to every other address IANA lists as
//! not globally reachable, unless `fetch.allow` opens them.
//!
//! The check runs on the addresses actually connected to: a resolver that
//! drops refused addresses (so a public name that resolves to 127.0.0.1 is
//! refused too), plus [`Policy::check_host`] for IP-literal hosts, which never
//! reach a resolver. IPv6 forms that carry an IPv4 address (mapped,
//! compatible, NAT64, 6to4, Teredo) are judged by the IPv4 address they
//! carry, since that is where a translator or relay delivers the packets.

use crate::config::{AllowEntry, FetchSettings};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    Unspecified,
    Loopback,
    Private,
    LinkLocal,
    UniqueLocal,
    SiteLocal,
    SharedCgnat,
    Multicast,
    Broadcast,
    /// Reserved or special-purpose (IETF protocol assignments, discard-only,
    /// 240.0.0.0/4, SRv6...): not globally reachable.
    Reserved,
    /// Documentation ranges: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
    /// 2001:db8::/32, 3fff::/20.
    Documentation,
    /// Benchmarking: 198.18.0.0/15, 2001:2::/48.
    Benchmarking,
    /// A cloud provider's instance metadata service; opened only by a
    /// `fetch.allow` entry naming the address exactly.
    Metadata,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Blocked::Unspecified => "an unspecified address",
            Blocked::Loopback => "a loopback address",
            Blocked::Private => "a private network address",
            Blocked::LinkLocal => "a link-local address",
            Blocked::UniqueLocal => "a unique-local (private) IPv6 address",
            Blocked::SiteLocal => "a site-local IPv6 address",
            Blocked::SharedCgnat => "a carrier-grade NAT address (100.64.0.0/10)",
            Blocked::Multicast => "a multicast address",
            Blocked::Broadcast => "the broadcast address",
            Blocked::Reserved => "a reserved, special-purpose address (not globally reachable)",
            Blocked::Documentation => "a documentation address (never a real host)",
            Blocked::Benchmarking => "a benchmarking address (198.18.0.0/15, 2001:2::/48)",
            Blocked::Metadata => "a cloud metadata service address",
        })
    }
}

/// Instance metadata services: each answers with credentials to whoever asks
/// from inside the instance, so a wider `fetch.allow` range never opens them.
pub const METADATA: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// `Some(reason)` when connecting to `ip` is refused by default.
pub fn classify(ip: IpAddr) -> Option<Blocked> {
    if METADATA.contains(&ip) {
        return Some(Blocked::Metadata);
    }
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Blocked> {
    if METADATA.contains(&IpAddr::V4(ip)) {
        return Some(Blocked::Metadata);
    }
    let [a, b, c, _] = ip.octets();
    if ip.is_broadcast() {
        Some(Blocked::Broadcast)
    } else if a == 0 {
        // 0.0.0.0/8 "this network": 0.0.0.0 connects to the local host on Linux.
        Some(Blocked::Unspecified)
    } else if a == 127 {
        Some(Blocked::Loopback)
    } else if a == 10 || (a == 172 && (16..32).contains(&b)) || (a == 192 && b == 168) {
        Some(Blocked::Private)
    } else if a == 169 && b == 254 {
        Some(Blocked::LinkLocal)
    } else if a == 100 && (64..128).contains(&b) {
        Some(Blocked::SharedCgnat)
    } else if (a, b, c) == (192, 0, 2) || (a, b, c) == (198, 51, 100) || (a, b, c) == (203, 0, 113)
    {
        Some(Blocked::Documentation)
    } else if a == 198 && (b == 18 || b == 19) {
        Some(Blocked::Benchmarking)
    } else if (a, b, c) == (192, 0, 0) {
        // IETF protocol assignments (DS-Lite, NAT64 discovery...). The whole
        // /24, including the two anycast addresses in it: no feed lives there.
        Some(Blocked::Reserved)
    } else if (224..240).contains(&a) {
        Some(Blocked::Multicast)
    } else if a >= 240 {
        Some(Blocked::Reserved)
    } else {
        None
    }
}

/// How an IPv6 address carries an IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// `::ffff:0:0/96` (and the translated `::ffff:0:0:0/96`).
    Mapped,
    /// `::/96`, deprecated; `::` and `::1` are not this.
    Compatible,
    /// `64:ff9b::/96` and the local-use `64:ff9b:1::/48`.
    Nat64,
    /// `2002::/16`, the IPv4 address in bits 16..48.
    SixToFour,
    /// `2001::/32`, the client (last 32 bits, inverted).
    TeredoClient,
    /// `2001::/32`, the server (bits 32..64).
    TeredoServer,
}

impl fmt::Display for Embedding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Embedding::Mapped => "an IPv4-mapped address",
            Embedding::Compatible => "an IPv4-compatible address (::/96)",
            Embedding::Nat64 => "a NAT64 address",
            Embedding::SixToFour => "a 6to4 address (2002::/16)",
            Embedding::TeredoClient => "a Teredo address (2001::/32), as its client",
            Embedding::TeredoServer => "a Teredo address (2001::/32), as its server",
        })
    }
}

fn v4_at(s: &[u16; 8], i: usize) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(s[i]) << 16) | u32::from(s[i + 1]))
}

/// The IPv4 addresses an IPv6 address carries, and how.
pub fn embedded(ip: Ipv6Addr) -> Vec<(Embedding, Ipv4Addr)> {
    let s = ip.segments();
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => {
            vec![(Embedding::Mapped, v4_at(&s, 6))]
        }
        // `::` and `::1` are the unspecified and loopback addresses themselves.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => vec![],
        [0, 0, 0, 0, 0, 0, _, _] => vec![(Embedding::Compatible, v4_at(&s, 6))],
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => {
            vec![(Embedding::Nat64, v4_at(&s, 6))]
        }
        [0x2002, ..] => vec![(Embedding::SixToFour, v4_at(&s, 1))],
        [0x2001, 0, ..] => vec![
            (
                Embedding::TeredoClient,
                Ipv4Addr::from(!u32::from(v4_at(&s, 6))),
            ),
            (Embedding::TeredoServer, v4_at(&s, 2)),
        ],
        _ => vec![],
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<Blocked> {
    let carried = embedded(ip);
    if !carried.is_empty() {
        if let Some(why) = carried.iter().find_map(|(_, v4)| classify(IpAddr::V4(*v4))) {
            return Some(why);
        }
        // The local-use NAT64 prefix is for a network's own translator.
        return matches!(ip.segments(), [0x64, 0xff9b, 1, ..]).then_some(Blocked::Reserved);
    }
    let s = ip.segments();
    if ip.is_unspecified() {
        Some(Blocked::Unspecified)
    } else if ip.is_loopback() {
        Some(Blocked::Loopback)
    } else if s[0] & 0xffc0 == 0xfe80 {
        Some(Blocked::LinkLocal)
    } else if s[0] & 0xffc0 == 0xfec0 {
        Some(Blocked::SiteLocal)
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some(Blocked::UniqueLocal)
    } else if s[0] & 0xff00 == 0xff00 {
        Some(Blocked::Multicast)
    } else if (s[0], s[1]) == (0x2001, 0xdb8) || (s[0] == 0x3fff && s[1] < 0x1000) {
        Some(Blocked::Documentation)
    } else if s[0..3] == [0x2001, 2, 0] {
        Some(Blocked::Benchmarking)
    } else if s[0] == 0x2001 && s[1] < 0x200 && !ietf_global(s) {
        Some(Blocked::Reserved)
    } else if s[0..4] == [0x100, 0, 0, 0] || s[0..4] == [0x100, 0, 0, 1] || s[0] == 0x5f00 {
        // Discard-only (100::/64), dummy prefix (100:0:0:1::/64), SRv6 SIDs (5f00::/16).
        Some(Blocked::Reserved)
    } else {
        None
    }
}

/// The parts of 2001::/23 that IANA lists as globally reachable.
fn ietf_global(s: [u16; 8]) -> bool {
    let anycast = s[1] == 1 && s[2..7] == [0, 0, 0, 0, 0] && (1..=3).contains(&s[7]);
    anycast
        || s[1] == 3 // AMT
        || (s[1] == 4 && s[2] == 0x112) // AS112-v6
        || (0x20..0x40).contains(&s[1]) // ORCHIDv2, drone remote ID
}

/// What the guard lets through: the `fetch.allow` entries and the older
/// all-or-nothing `allow_private_addresses`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `allow_private_addresses: true`: every address but a metadata service's.
    pub private: bool,
    pub allow: Vec<AllowEntry>,
}

impl Policy {
    /// The policy `fetch:` settings describe.
    pub fn new(settings: &FetchSettings) -> Policy {
        Policy {
            private: settings.allow_private_addresses,
            allow: settings.allow.clone(),
        }
    }

    /// May a URL whose host is `host` connect to `ip`? `host` is the name
    /// as written in the URL (or the address itself for an IP literal).
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        let Some(why) = classify(ip) else {
            return Ok(());
        };
        if self.opens_address(ip, why) || (why != Blocked::Metadata && self.opens_name(host)) {
            return Ok(());
        }
        // An IPv6 form is opened by opening what it carries: every refused
        // address in it (a Teredo address carries two), unless the form is
        // refused for itself (the local-use NAT64 prefix).
        if let IpAddr::V6(v6) = ip {
            let carried = embedded(v6);
            let own = matches!(v6.segments(), [0x64, 0xff9b, 1, ..]);
            let all_opened = carried.iter().all(|(_, v4)| {
                let v4 = IpAddr::V4(*v4);
                classify(v4).is_none_or(|w| self.opens_address(v4, w))
            });
            if !carried.is_empty() && !own && all_opened {
                return Ok(());
            }
        }
        Err(Refused {
            host: host.to_string(),
            addr: ip,
            why,
        })
    }

    /// A range holding `ip`, or `allow_private_addresses`; for a metadata
    /// service, only an entry that is exactly `ip`.
    fn opens_address(&self, ip: IpAddr, why: Blocked) -> bool {
        let mut nets = self.allow.iter().filter_map(|e| match e {
            AllowEntry::Net(n) => Some(n),
            AllowEntry::Host(_) => None,
        });
        if why == Blocked::Metadata {
            nets.any(|n| n.single() == Some(ip))
        } else {
            self.private || nets.any(|n| n.contains(ip))
        }
    }

    /// A host entry naming `host` (never an IP literal).
    fn opens_name(&self, host: &str) -> bool {
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        host.parse::<IpAddr>().is_err()
            && self
                .allow
                .iter()
                .any(|e| matches!(e, AllowEntry::Host(h) if *h == name))
    }

    /// Check a URL's host when it is an IP literal (those bypass the resolver).
    pub fn check_host(&self, host: &url::Host<&str>) -> Result<(), Refused> {
        let ip = match host {
            url::Host::Ipv4(v4) => IpAddr::V4(*v4),
            url::Host::Ipv6(v6) => IpAddr::V6(*v6),
            url::Host::Domain(_) => return Ok(()),
        };
        self.check(&ip.to_string(), ip)
    }

    /// Split resolved addresses into those allowed and the first refusal.
    fn filter(&self, host: &str, all: Vec<SocketAddr>) -> (Vec<SocketAddr>, Option<Refused>) {
        let mut refused = None;
        let allowed = all
            .into_iter()
            .filter(|a| match self.check(host, a.ip()) {
                Ok(()) => true,
                Err(r) => {
                    refused.get_or_insert(r);
                    false
                }
            })
            .collect();
        (allowed, refused)
    }

    /// Resolve `host` with the system resolver, keeping the addresses allowed;
    /// an error when there were addresses and every one was refused.
    pub async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        let all: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(ResolveError::Lookup)?
            .collect();
        match self.filter(host, all) {
            (allowed, Some(refused)) if allowed.is_empty() => Err(ResolveError::Refused(refused)),
            (allowed, _) => Ok(allowed),
        }
    }
}

/// A name that did not resolve, or resolved only to refused addresses.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Lookup(std::io::Error),
    #[error("{0}")]
    Refused(Refused),
}

/// A connection refused by the guard; the message names the setting to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub host: String,
    pub addr: IpAddr,
    pub why: Blocked,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let literal = self.host == self.addr.to_string();
        if literal {
            write!(f, "refused to connect to {}: {}", self.addr, self.why)?;
        } else {
            write!(
                f,
                "refused to connect to {} ({}): {}",
                self.host, self.addr, self.why
            )?;
        }
        if let IpAddr::V6(v6) = self.addr {
            let carrier = embedded(v6)
                .into_iter()
                .find(|(_, v4)| classify(IpAddr::V4(*v4)).is_some());
            if let Some((form, v4)) = carrier {
                write!(f, " ({v4} inside {form})")?;
            }
        }
        let yaml = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("\"{v6}\""),
        };
        if self.why == Blocked::Metadata {
            return write!(
                f,
                "; only an entry naming the address itself opens it: `fetch: {{ allow: [{}] }}` in tributary.yaml",
                yaml(self.addr)
            );
        }
        let entry = if literal {
            yaml(self.addr)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "; to fetch from it, add it to `fetch: {{ allow: [{entry}] }}` in tributary.yaml"
        )
    }
}

impl std::error::Error for Refused {}

/// Check a URL's host under the default policy (nothing opened).
pub fn check_host(host: &url::Host<&str>) -> Result<(), Refused> {
    Policy::default().check_host(host)
}

/// The system resolver, keeping only addresses the policy allows.
#[derive(Debug, Default, Clone)]
pub struct GuardedResolver {
    policy: Arc<Policy>,
}

impl GuardedResolver {
    pub fn new(policy: Arc<Policy>) -> GuardedResolver {
        GuardedResolver { policy }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let policy = self.policy.clone();
        Box::pin(async move {
            let allowed = policy.resolve(&host).await.map_err(
                |e| -> Box<dyn std::error::Error + Send + Sync> {
                    match e {
                        ResolveError::Lookup(io) => Box::new(io),
                        ResolveError::Refused(r) => Box::new(r),
                    }
                },
            )?;
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(s: &str) -> Option<Blocked> {
        classify(s.parse().unwrap())
    }

    fn policy(allow: &[&str], private: bool) -> Policy {
        Policy {
            private,
            allow: allow.iter().map(|e| e.parse().unwrap()).collect(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_ranges() {
        assert_eq!(v4("127.0.0.1"), Some(Blocked::Loopback));
        assert_eq!(v4("127.255.255.254"), Some(Blocked::Loopback));
        assert_eq!(v4("10.1.2.3"), Some(Blocked::Private));
        assert_eq!(v4("172.16.0.1"), Some(Blocked::Private));
        assert_eq!(v4("172.31.255.255"), Some(Blocked::Private));
        assert_eq!(v4("172.32.0.1"), None);
        assert_eq!(v4("172.15.255.255"), None);
        assert_eq!(v4("192.168.1.1"), Some(Blocked::Private));
        assert_eq!(v4("192.169.1.1"), None);
        assert_eq!(v4("169.254.169.253"), Some(Blocked::LinkLocal));
        assert_eq!(v4("100.64.0.1"), Some(Blocked::SharedCgnat));
        assert_eq!(v4("100.127.255.255"), Some(Blocked::SharedCgnat));
        assert_eq!(v4("100.128.0.1"), None);
        assert_eq!(v4("100.63.255.255"), None);
        assert_eq!(v4("0.0.0.0"), Some(Blocked::Unspecified));
        assert_eq!(v4("224.0.0.1"), Some(Blocked::Multicast));
        assert_eq!(v4("239.255.255.250"), Some(Blocked::Multicast));
        assert_eq!(v4("255.255.255.255"), Some(Blocked::Broadcast));
        assert_eq!(v4("240.0.0.1"), Some(Blocked::Reserved));
        assert_eq!(v4("8.8.8.8"), None);
        assert_eq!(v4("93.184.216.34"), None);
        assert_eq!(v4("11.0.0.1"), None);
    }

    #[test]
    fn ipv4_special_purpose_ranges() {
        assert_eq!(v4("192.0.0.1"), Some(Blocked::Reserved));
        assert_eq!(v4("192.0.0.170"), Some(Blocked::Reserved));
        assert_eq!(v4("192.0.1.1"), None);
        assert_eq!(v4("192.0.2.1"), Some(Blocked::Documentation));
        assert_eq!(v4("198.51.100.7"), Some(Blocked::Documentation));
        assert_eq!(v4("203.0.113.255"), Some(Blocked::Documentation));
        assert_eq!(v4("203.0.114.1"), None);
        assert_eq!(v4("198.18.0.1"), Some(Blocked::Benchmarking));
        assert_eq!(v4("198.19.255.255"), Some(Blocked::Benchmarking));
        assert_eq!(v4("198.17.255.255"), None);
        assert_eq!(v4("198.20.0.0"), None);
    }

    #[test]
    fn metadata_addresses() {
        for m in [
            "169.254.169.254",
            "169.254.170.2",
            "100.100.100.200",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
        ] {
            assert_eq!(v4(m), Some(Blocked::Metadata), "{m}");
        }
    }

    #[test]
    fn ipv6_ranges() {
        assert_eq!(v4("::1"), Some(Blocked::Loopback));
        assert_eq!(v4("::"), Some(Blocked::Unspecified));
        assert_eq!(v4("fe80::1"), Some(Blocked::LinkLocal));
        assert_eq!(v4("febf::1"), Some(Blocked::LinkLocal));
        assert_eq!(v4("fec0::1"), Some(Blocked::SiteLocal));
        assert_eq!(v4("fc00::1"), Some(Blocked::UniqueLocal));
        assert_eq!(v4("fdff:ffff::1"), Some(Blocked::UniqueLocal));
        assert_eq!(v4("ff02::1"), Some(Blocked::Multicast));
        assert_eq!(v4("::ffff:127.0.0.1"), Some(Blocked::Loopback));
        assert_eq!(v4("::ffff:10.0.0.1"), Some(Blocked::Private));
        assert_eq!(v4("::ffff:8.8.8.8"), None);
        assert_eq!(v4("64:ff9b::7f00:1"), Some(Blocked::Loopback));
        assert_eq!(v4("64:ff9b::808:808"), None);
        assert_eq!(v4("2001:4860:4860::8888"), None);
        assert_eq!(v4("2606:4700::1111"), None);
    }

    #[test]
    fn ipv6_forms_carrying_ipv4_are_judged_by_it() {
        // IPv4-compatible, deprecated but still parsed and routed.
        assert_eq!(v4("::127.0.0.1"), Some(Blocked::Loopback));
        assert_eq!(v4("::10.0.0.1"), Some(Blocked::Private));
        assert_eq!(v4("::8.8.8.8"), None);
        // IPv4-translated (SIIT).
        assert_eq!(v4("::ffff:0:7f00:1"), Some(Blocked::Loopback));
        // 6to4: the IPv4 address is bits 16..48, whatever follows.
        assert_eq!(v4("2002:7f00:1::"), Some(Blocked::Loopback));
        assert_eq!(v4("2002:c0a8:101:ffff::1"), Some(Blocked::Private));
        assert_eq!(v4("2002:808:808::1"), None);
        // NAT64 local-use: refused even when it carries a public address.
        assert_eq!(v4("64:ff9b:1::7f00:1"), Some(Blocked::Loopback));
        assert_eq!(v4("64:ff9b:1::808:808"), Some(Blocked::Reserved));
        assert_eq!(v4("64:ff9b:1:2:3::808:808"), Some(Blocked::Reserved));
        // Teredo: client is the last 32 bits inverted (0x80ffffe == !127.0.0.1).
        assert_eq!(
            v4("2001:0:808:808::80ff:fffe"),
            Some(Blocked::Loopback),
            "client 127.0.0.1"
        );
        assert_eq!(
            v4("2001:0:a00:1::f7f7:f7f7"),
            Some(Blocked::Private),
            "server 10.0.0.1"
        );
        assert_eq!(v4("2001:0:808:808::f7f7:f7f7"), None, "both 8.8.8.8");
    }

    #[test]
    fn ipv6_special_purpose_ranges() {
        assert_eq!(v4("2001:db8::1"), Some(Blocked::Documentation));
        assert_eq!(v4("3fff::1"), Some(Blocked::Documentation));
        assert_eq!(v4("3fff:fff::1"), Some(Blocked::Documentation));
        assert_eq!(v4("3fff:1000::1"), None);
        assert_eq!(v4("2001:2::1"), Some(Blocked::Benchmarking));
        assert_eq!(v4("100::1"), Some(Blocked::Reserved));
        assert_eq!(v4("100::1:0:0:1"), Some(Blocked::Reserved));
        assert_eq!(v4("100:0:0:2::1"), None);
        assert_eq!(v4("2001:10::1"), Some(Blocked::Reserved));
        assert_eq!(v4("2001:1ff::1"), Some(Blocked::Reserved));
        assert_eq!(v4("5f00::1"), Some(Blocked::Reserved));
        // The globally reachable parts of 2001::/23.
        assert_eq!(v4("2001:1::1"), None);
        assert_eq!(v4("2001:3::1"), None);
        assert_eq!(v4("2001:4:112::1"), None);
        assert_eq!(v4("2001:20::1"), None);
        assert_eq!(v4("2001:200::1"), None);
    }

    #[test]
    fn literal_hosts_and_message() {
        let u = url::Url::parse("http://[::ffff:7f00:1]:8080/feed").unwrap();
        let err = check_host(&u.host().unwrap()).unwrap_err();
        assert_eq!(err.why, Blocked::Loopback);
        let text = err.to_string();
        assert!(text.contains("127.0.0.1"), "{text}");
        assert!(text.contains("loopback"), "{text}");
        assert!(
            text.contains("`fetch: { allow: [\"::ffff:127.0.0.1\"] }`"),
            "{text}"
        );
        // The WHATWG parser turns the decimal form into 127.0.0.1 too.
        let u = url::Url::parse("http://2130706433/").unwrap();
        let text = check_host(&u.host().unwrap()).unwrap_err().to_string();
        assert!(text.contains("`fetch: { allow: [127.0.0.1] }`"), "{text}");
        let u = url::Url::parse("http://example.org/").unwrap();
        assert!(check_host(&u.host().unwrap()).is_ok());
        let u = url::Url::parse("http://1.1.1.1/").unwrap();
        assert!(check_host(&u.host().unwrap()).is_ok());
        let u = url::Url::parse("http://[2002:7f00:1::]/").unwrap();
        let text = check_host(&u.host().unwrap()).unwrap_err().to_string();
        assert!(
            text.contains("loopback address (127.0.0.1 inside a 6to4 address"),
            "{text}"
        );
    }

    #[test]
    fn filter_keeps_public_addresses_and_reports_the_first_refusal() {
        let all = vec![
            "127.0.0.1:0".parse().unwrap(),
            "1.2.3.4:0".parse().unwrap(),
            "[::1]:0".parse().unwrap(),
        ];
        let (ok, refused) = Policy::default().filter("mixed.example", all);
        assert_eq!(ok, vec!["1.2.3.4:0".parse::<SocketAddr>().unwrap()]);
        let r = refused.unwrap();
        assert_eq!(r.addr, ip("127.0.0.1"));
        let text = r.to_string();
        assert!(text.contains("mixed.example (127.0.0.1)"), "{text}");
        assert!(
            text.contains("`fetch: { allow: [mixed.example] }`"),
            "{text}"
        );
    }

    #[test]
    fn allow_entries_parse() {
        let net = |s: &str| match s.parse::<AllowEntry>() {
            Ok(AllowEntry::Net(n)) => n.to_string(),
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(net("10.0.0.0/8"), "10.0.0.0/8");
        assert_eq!(net("10.1.2.3"), "10.1.2.3/32");
        assert_eq!(net("fd00::/8"), "fd00::/8");
        assert_eq!(net("[fd00::5]"), "fd00::5/128");
        assert_eq!(net("::1"), "::1/128");
        assert_eq!(
            "Intranet.Example.".parse::<AllowEntry>(),
            Ok(AllowEntry::Host("intranet.example".into()))
        );
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0.0/x",
            "intranet/8",
            "http://intranet.example/",
            "intranet.example:8080",
            "*.example",
            "",
            "a b",
        ] {
            let e = bad.parse::<AllowEntry>().unwrap_err().to_string();
            assert!(e.contains("a fetch.allow entry is"), "{bad}: {e}");
            assert!(e.contains("10.0.0.0/8"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_range_opens_the_addresses_in_it_only() {
        let p = policy(&["10.0.0.0/8", "fd00:1::/32"], false);
        assert!(p.check("10.1.2.3", ip("10.1.2.3")).is_ok());
        assert!(p.check("intranet", ip("10.1.2.3")).is_ok());
        assert!(p.check("::ffff:10.1.2.3", ip("::ffff:10.1.2.3")).is_ok());
        assert!(p.check("fd00:1::5", ip("fd00:1::5")).is_ok());
        assert!(p.check("fd00:2::5", ip("fd00:2::5")).is_err());
        assert!(p.check("192.168.0.1", ip("192.168.0.1")).is_err());
        assert!(p.check("127.0.0.1", ip("127.0.0.1")).is_err());
        assert!(p.check("8.8.8.8", ip("8.8.8.8")).is_ok());
    }

    #[test]
    fn a_host_opens_its_addresses_for_that_name_only() {
        let p = policy(&["intranet.example"], false);
        assert!(p.check("intranet.example", ip("10.0.0.5")).is_ok());
        assert!(p.check("INTRANET.example.", ip("10.0.0.5")).is_ok());
        assert!(p.check("other.example", ip("10.0.0.5")).is_err());
        assert!(p.check("10.0.0.5", ip("10.0.0.5")).is_err());
        let r = p.check("intranet.example", ip("169.254.169.254"));
        assert_eq!(r.unwrap_err().why, Blocked::Metadata);
    }

    #[test]
    fn metadata_is_opened_only_by_naming_it() {
        for p in [
            policy(&[], true),
            policy(&["169.254.0.0/16", "100.64.0.0/10", "fd00::/8"], false),
            policy(&["169.254.0.0/16"], true),
            policy(&["0.0.0.0/0", "::/0"], false),
        ] {
            for m in METADATA {
                let r = p.check(&m.to_string(), m).unwrap_err();
                assert_eq!(r.why, Blocked::Metadata, "{m} {p:?}");
                let text = r.to_string();
                assert!(text.contains("`fetch: { allow: ["), "{text}");
                assert!(text.contains("naming the address itself"), "{text}");
            }
            let mapped = ip("::ffff:169.254.169.254");
            assert!(p.check("x", mapped).is_err(), "{p:?}");
        }
        // The older switch still opens everything else.
        let p = policy(&[], true);
        assert!(p.check("127.0.0.1", ip("127.0.0.1")).is_ok());
        assert!(p.check("169.254.1.1", ip("169.254.1.1")).is_ok());
        // Every address a Teredo address carries must be opened, not one.
        let p = policy(&["10.0.0.0/8"], false);
        assert!(p.check("x", ip("2001:0:a00:1::f7f7:f7f7")).is_ok());
        assert!(p.check("x", ip("2001:0:a00:1::80ff:fffe")).is_err());
        assert!(p.check("x", ip("64:ff9b:1::a00:1")).is_err());
        assert!(p.check("x", ip("64:ff9b::a00:1")).is_ok());
        // Named exactly, as an address or a /32, or carried by IPv6 named so.
        let p = policy(&["169.254.169.254", "fd00:ec2::254/128"], false);
        assert!(p.check("x", ip("169.254.169.254")).is_ok());
        assert!(p.check("x", ip("::ffff:169.254.169.254")).is_ok());
        assert!(p.check("x", ip("fd00:ec2::254")).is_ok());
        assert!(p.check("x", ip("169.254.170.2")).is_err());
        assert!(p.check("x", ip("169.254.169.253")).is_err());
    }

    fn embeddings(v: Ipv4Addr, noise: u128) -> Vec<Ipv6Addr> {
        let x = u128::from(u32::from(v));
        vec![
            v.to_ipv6_mapped(),
            v.to_ipv6_compatible(),
            Ipv6Addr::from((0x0064_ff9bu128 << 96) | x),
            Ipv6Addr::from((0x0064_ff9b_0001u128 << 80) | (noise & (0xffff << 32)) | x),
            // 6to4: anything in the subnet and interface bits.
            Ipv6Addr::from((0x2002u128 << 112) | (x << 80) | (noise & ((1 << 80) - 1))),
            // Teredo client, any server, port and flags.
            Ipv6Addr::from(
                (0x2001u128 << 112) | (noise & (((1 << 64) - 1) << 32)) | (!x & 0xffff_ffff),
            ),
            // Teredo server, any client.
            Ipv6Addr::from((0x2001u128 << 112) | (x << 64) | (noise & ((1 << 64) - 1))),
        ]
    }

    /// Mostly addresses inside the refused IPv4 ranges (a random address
    /// is public six times in seven), some anywhere.
    fn refused_or_any_v4() -> impl Strategy<Value = u32> {
        let ranges: Vec<(u32, u32)> = vec![
            (0x0000_0000, 8),
            (0x0a00_0000, 8),
            (0x6440_0000, 10),
            (0x7f00_0000, 8),
            (0xa9fe_0000, 16),
            (0xac10_0000, 12),
            (0xc000_0000, 24),
            (0xc000_0200, 24),
            (0xc0a8_0000, 16),
            (0xc612_0000, 15),
            (0xc633_6400, 24),
            (0xcb00_7100, 24),
            (0xe000_0000, 3),
        ];
        prop_oneof![
            1 => any::<u32>(),
            4 => (proptest::sample::select(ranges), any::<u32>())
                .prop_map(|((base, len), x)| base | (x & (u32::MAX >> len))),
        ]
    }

    proptest! {
        #[test]
        fn every_ipv4_private_range_is_refused(x in any::<u32>()) {
            let low24 = x & 0x00ff_ffff;
            prop_assert_eq!(classify_v4(Ipv4Addr::from(0x7f00_0000 | low24)), Some(Blocked::Loopback));
            prop_assert_eq!(classify_v4(Ipv4Addr::from(0x0a00_0000 | low24)), Some(Blocked::Private));
            prop_assert_eq!(classify_v4(Ipv4Addr::from(0xac10_0000 | (x & 0x000f_ffff))), Some(Blocked::Private));
            prop_assert_eq!(classify_v4(Ipv4Addr::from(0xc0a8_0000 | (x & 0xffff))), Some(Blocked::Private));
            prop_assert!(classify_v4(Ipv4Addr::from(0xa9fe_0000 | (x & 0xffff))).is_some());
            prop_assert!(classify_v4(Ipv4Addr::from(0x6440_0000 | (x & 0x003f_ffff))).is_some());
            prop_assert_eq!(classify_v4(Ipv4Addr::from(0xc612_0000 | (x & 0x0001_ffff))), Some(Blocked::Benchmarking));
            prop_assert_eq!(classify_v4(Ipv4Addr::from(0xc000_0000 | (x & 0xff))), Some(Blocked::Reserved));
        }

        #[test]
        fn mapped_ipv6_agrees_with_ipv4(x in any::<u32>()) {
            let ip = Ipv4Addr::from(x);
            prop_assert_eq!(classify_v6(ip.to_ipv6_mapped()), classify_v4(ip));
        }

        /// No IPv6 spelling of a refused IPv4 address gets through.
        #[test]
        fn every_ipv6_embedding_of_a_refused_ipv4_is_refused(x in refused_or_any_v4(), noise in any::<u128>()) {
            let v = Ipv4Addr::from(x);
            prop_assume!(classify(IpAddr::V4(v)).is_some());
            let why = classify(IpAddr::V4(v));
            for e in embeddings(v, noise) {
                let got = classify(IpAddr::V6(e));
                prop_assert!(got.is_some(), "{} carries {} ({:?}) but is allowed", e, v, why);
                prop_assert!(Policy::default().check("h", IpAddr::V6(e)).is_err());
            }
        }

        #[test]
        fn ipv6_local_ranges_are_refused(x in any::<u128>()) {
            let low = x & ((1u128 << 118) - 1);
            prop_assert_eq!(classify_v6(Ipv6Addr::from((0xfe80u128 << 112) | low)), Some(Blocked::LinkLocal));
            let low = x & ((1u128 << 121) - 1);
            let ula = Ipv6Addr::from((0xfc00u128 << 112) | low);
            prop_assert!(classify(IpAddr::V6(ula)).is_some());
            let low = x & ((1u128 << 120) - 1);
            prop_assert_eq!(classify_v6(Ipv6Addr::from((0xff00u128 << 112) | low)), Some(Blocked::Multicast));
        }

        #[test]
        fn global_unicast_ipv6_is_allowed(x in any::<u128>()) {
            // 2000::/3 but the special-purpose blocks inside it, written out
            // here independently of classify_v6.
            let ip = Ipv6Addr::from((0x1u128 << 125) | (x & ((1u128 << 125) - 1)));
            let s = ip.segments();
            prop_assume!(s[0] != 0x2001 || s[1] >= 0x200);
            prop_assume!(s[0] != 0x2002 && (s[0], s[1]) != (0x2001, 0xdb8));
            prop_assume!(s[0] != 0x3fff || s[1] >= 0x1000);
            prop_assert_eq!(classify_v6(ip), None);
        }

        #[test]
        fn public_ipv4_is_allowed(a in 1u8..=223, b: u8, c: u8, d: u8) {
            let ip = Ipv4Addr::new(a, b, c, d);
            let local = a == 10 || a == 127 || (a == 172 && (16..32).contains(&b))
                || (a == 192 && b == 168) || (a == 169 && b == 254)
                || (a == 100 && (64..128).contains(&b))
                || (a, b, c) == (192, 0, 0) || (a, b, c) == (192, 0, 2)
                || (a, b, c) == (198, 51, 100) || (a, b, c) == (203, 0, 113)
                || (a == 198 && (b == 18 || b == 19));
            prop_assert_eq!(classify_v4(ip).is_some(), local);
        }
    }
}
