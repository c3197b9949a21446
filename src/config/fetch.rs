//! The `fetch:` section of `tributary.yaml`: limits for fetching upstream
//! feeds and the addresses the SSRF guard (`fetch::guard`) lets through.

use std::fmt;
use std::net::IpAddr;

/// The `fetch:` section of `tributary.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchSettings {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Requests in flight at once to one host.
    pub per_host: usize,
    /// Seconds for a whole fetch: every redirect hop and the whole body.
    pub timeout: u64,
    /// Largest body accepted, in bytes, after decompression.
    pub max_body: u64,
    /// Replaces `tributary/VERSION (+SITE_URL)`.
    pub user_agent: Option<String>,
    /// Allow loopback, private, link-local... addresses (off: SSRF guard),
    /// all but cloud metadata services. `allow` opens less.
    pub allow_private_addresses: bool,
    /// Ranges, addresses and host names the SSRF guard lets through.
    pub allow: Vec<AllowEntry>,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            concurrency: 16,
            per_host: 2,
            timeout: 30,
            max_body: 10 * 1024 * 1024,
            user_agent: None,
            allow_private_addresses: false,
            allow: Vec::new(),
        }
    }
}

/// An address range: `ADDR/LEN`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub len: u8,
}

impl Cidr {
    /// Whether `ip` is in the range (an IPv4 range never holds an IPv6 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// The one address this range is, if it is one.
    pub fn single(&self) -> Option<IpAddr> {
        let full = if self.addr.is_ipv4() { 32 } else { 128 };
        (self.len == full).then_some(self.addr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// One `fetch.allow` entry: a range of addresses, or a host name whose
/// resolved addresses are opened for that name only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    Net(Cidr),
    /// Lower case, without a trailing dot.
    Host(String),
}

/// A `fetch.allow` entry that is neither a range, an address nor a host name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?} {problem}; a fetch.allow entry is an address (10.0.0.5, \"fd00::5\"), a range (10.0.0.0/8) or a host name (intranet.example)")]
pub struct BadAllowEntry {
    pub entry: String,
    pub problem: &'static str,
}

impl std::str::FromStr for AllowEntry {
    type Err = BadAllowEntry;

    fn from_str(text: &str) -> Result<AllowEntry, BadAllowEntry> {
        let bad = |problem| BadAllowEntry {
            entry: text.to_string(),
            problem,
        };
        let t = text.trim();
        if let Some((addr, len)) = t.split_once('/') {
            let addr: IpAddr = addr
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| bad("does not start with an IP address"))?;
            let full = if addr.is_ipv4() { 32 } else { 128 };
            let len: u8 = len.parse().ok().filter(|l| *l <= full).ok_or_else(|| {
                bad("has a prefix length that is not a number from 0 to 32 (IPv4) or 128 (IPv6)")
            })?;
            return Ok(AllowEntry::Net(Cidr { addr, len }));
        }
        let unbracketed = t.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
        if let Ok(ip) = unbracketed.unwrap_or(t).parse::<IpAddr>() {
            let len = if ip.is_ipv4() { 32 } else { 128 };
            return Ok(AllowEntry::Net(Cidr { addr: ip, len }));
        }
        if t.is_empty() || t.contains("://") || t.contains([':', '/', '*', ' ', '@']) {
            return Err(bad(
                "is not a host name (no scheme, port, path or wildcard)",
            ));
        }
        // The URL parser's view, so that the entry matches the host as URLs spell it.
        match url::Host::parse(t) {
            Ok(url::Host::Domain(d)) => Ok(AllowEntry::Host(
                d.trim_end_matches('.').to_ascii_lowercase(),
            )),
            Ok(url::Host::Ipv4(v4)) => Ok(AllowEntry::Net(Cidr {
                addr: IpAddr::V4(v4),
                len: 32,
            })),
            Ok(url::Host::Ipv6(v6)) => Ok(AllowEntry::Net(Cidr {
                addr: IpAddr::V6(v6),
                len: 128,
            })),
            Err(_) => Err(bad("is not a valid host name")),
        }
    }
}

impl<'de> serde::Deserialize<'de> for AllowEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<AllowEntry, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
