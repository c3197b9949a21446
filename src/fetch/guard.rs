//! SSRF guard: upstream URLs come from configuration and from redirects that
//! a remote server chooses, so tributary refuses to connect to addresses
//! inside the host or its network unless `fetch.allow_private_addresses` is set.
//!
//! The check runs on the addresses actually connected to: a resolver that
//! drops refused addresses (so a public name that resolves to 127.0.0.1 is
//! refused too), plus [`check_host`] for IP-literal hosts, which never reach a
//! resolver.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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
    Reserved,
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
            Blocked::Reserved => "a reserved address",
        })
    }
}

/// `Some(reason)` when connecting to `ip` is refused by default.
pub fn classify(ip: IpAddr) -> Option<Blocked> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Blocked> {
    let [a, b, _, _] = ip.octets();
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
    } else if (224..240).contains(&a) {
        Some(Blocked::Multicast)
    } else if a >= 240 {
        Some(Blocked::Reserved)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<Blocked> {
    // IPv4-mapped (::ffff:a.b.c.d) reaches the IPv4 address itself; so does
    // the NAT64 well-known prefix 64:ff9b::/96 through a translator.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return classify_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
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
    } else {
        None
    }
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
        if self.host == self.addr.to_string() {
            write!(f, "refused to connect to {}: {}", self.addr, self.why)?;
        } else {
            write!(
                f,
                "refused to connect to {} ({}): {}",
                self.host, self.addr, self.why
            )?;
        }
        f.write_str(
            " (set `fetch: { allow_private_addresses: true }` in tributary.yaml to fetch from private addresses)",
        )
    }
}

impl std::error::Error for Refused {}

/// Check a URL's host when it is an IP literal (those bypass the resolver).
pub fn check_host(host: &url::Host<&str>) -> Result<(), Refused> {
    let ip = match host {
        url::Host::Ipv4(v4) => IpAddr::V4(*v4),
        url::Host::Ipv6(v6) => IpAddr::V6(*v6),
        url::Host::Domain(_) => return Ok(()),
    };
    match classify(ip) {
        Some(why) => Err(Refused {
            host: ip.to_string(),
            addr: ip,
            why,
        }),
        None => Ok(()),
    }
}

/// The system resolver, keeping only addresses the guard allows.
#[derive(Debug, Default, Clone, Copy)]
pub struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused) = filter(&host, all);
            if allowed.is_empty() {
                if let Some(r) = refused {
                    return Err(Box::new(r) as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// Split resolved addresses into those allowed and the first refusal.
fn filter(host: &str, all: Vec<SocketAddr>) -> (Vec<SocketAddr>, Option<Refused>) {
    let mut refused = None;
    let allowed = all
        .into_iter()
        .filter(|a| match classify(a.ip()) {
            None => true,
            Some(why) => {
                refused.get_or_insert(Refused {
                    host: host.to_string(),
                    addr: a.ip(),
                    why,
                });
                false
            }
        })
        .collect();
    (allowed, refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(s: &str) -> Option<Blocked> {
        classify(s.parse().unwrap())
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
        assert_eq!(v4("169.254.169.254"), Some(Blocked::LinkLocal));
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
        assert_eq!(v4("::ffff:169.254.169.254"), Some(Blocked::LinkLocal));
        assert_eq!(v4("::ffff:8.8.8.8"), None);
        assert_eq!(v4("64:ff9b::7f00:1"), Some(Blocked::Loopback));
        assert_eq!(v4("64:ff9b::808:808"), None);
        assert_eq!(v4("2001:4860:4860::8888"), None);
        assert_eq!(v4("2606:4700::1111"), None);
    }

    #[test]
    fn literal_hosts_and_message() {
        let u = url::Url::parse("http://[::ffff:7f00:1]:8080/feed").unwrap();
        let err = check_host(&u.host().unwrap()).unwrap_err();
        assert_eq!(err.why, Blocked::Loopback);
        let text = err.to_string();
        assert!(text.contains("127.0.0.1"), "{text}");
        assert!(text.contains("loopback"), "{text}");
        assert!(text.contains("allow_private_addresses"), "{text}");
        // The WHATWG parser turns the decimal form into 127.0.0.1 too.
        let u = url::Url::parse("http://2130706433/").unwrap();
        assert!(check_host(&u.host().unwrap()).is_err());
        let u = url::Url::parse("http://example.org/").unwrap();
        assert!(check_host(&u.host().unwrap()).is_ok());
        let u = url::Url::parse("http://1.1.1.1/").unwrap();
        assert!(check_host(&u.host().unwrap()).is_ok());
    }

    #[test]
    fn filter_keeps_public_addresses_and_reports_the_first_refusal() {
        let all = vec![
            "127.0.0.1:0".parse().unwrap(),
            "1.2.3.4:0".parse().unwrap(),
            "[::1]:0".parse().unwrap(),
        ];
        let (ok, refused) = filter("mixed.example", all);
        assert_eq!(ok, vec!["1.2.3.4:0".parse::<SocketAddr>().unwrap()]);
        let r = refused.unwrap();
        assert_eq!(r.addr, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(r.to_string().contains("mixed.example (127.0.0.1)"));
    }

    proptest! {
        #[test]
        fn every_ipv4_private_range_is_refused(x in any::<u32>()) {
            let low24 = x & 0x00ff_ffff;
            prop_assert_eq!(classify_v4(Ipv4Addr::from(0x7f00_0000 | low24)), Some(Blocked::Loopback));
            prop_assert_eq!(classify_v4(Ipv4Addr::from(0x0a00_0000 | low24)), Some(Blocked::Private));
            prop_assert_eq!(classify_v4(Ipv4Addr::from(0xac10_0000 | (x & 0x000f_ffff))), Some(Blocked::Private));
            prop_assert_eq!(classify_v4(Ipv4Addr::from(0xc0a8_0000 | (x & 0xffff))), Some(Blocked::Private));
            prop_assert_eq!(classify_v4(Ipv4Addr::from(0xa9fe_0000 | (x & 0xffff))), Some(Blocked::LinkLocal));
            prop_assert_eq!(classify_v4(Ipv4Addr::from(0x6440_0000 | (x & 0x003f_ffff))), Some(Blocked::SharedCgnat));
        }

        #[test]
        fn mapped_ipv6_agrees_with_ipv4(x in any::<u32>()) {
            let ip = Ipv4Addr::from(x);
            prop_assert_eq!(classify_v6(ip.to_ipv6_mapped()), classify_v4(ip));
        }

        #[test]
        fn ipv6_local_ranges_are_refused(x in any::<u128>()) {
            let low = x & ((1u128 << 118) - 1);
            prop_assert_eq!(classify_v6(Ipv6Addr::from((0xfe80u128 << 112) | low)), Some(Blocked::LinkLocal));
            let low = x & ((1u128 << 121) - 1);
            prop_assert_eq!(classify_v6(Ipv6Addr::from((0xfc00u128 << 112) | low)), Some(Blocked::UniqueLocal));
            let low = x & ((1u128 << 120) - 1);
            prop_assert_eq!(classify_v6(Ipv6Addr::from((0xff00u128 << 112) | low)), Some(Blocked::Multicast));
        }

        #[test]
        fn global_unicast_ipv6_is_allowed(x in any::<u128>()) {
            // 2000::/3 minus the NAT64 and mapped forms, which do not start with 2 or 3.
            let ip = Ipv6Addr::from((0x2u128 << 125) | (x & ((1u128 << 125) - 1)));
            prop_assert_eq!(classify_v6(ip), None);
        }

        #[test]
        fn public_ipv4_is_allowed(a in 1u8..=223, b: u8, c: u8, d: u8) {
            let ip = Ipv4Addr::new(a, b, c, d);
            let local = a == 10 || a == 127 || (a == 172 && (16..32).contains(&b))
                || (a == 192 && b == 168) || (a == 169 && b == 254)
                || (a == 100 && (64..128).contains(&b));
            prop_assert_eq!(classify_v4(ip).is_some(), local);
        }
    }
}
