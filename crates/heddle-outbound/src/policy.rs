//! What the outbound client may reach, and how much it may spend doing so.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::Url;
use url_host::host_of;

use crate::OutboundError;
use crate::address::classify;

/// Limits and reach of an [`OutboundClient`](crate::OutboundClient).
///
/// The default reaches any public host over http or https, follows no redirects, reads at
/// most 10 MiB of response body and gives a request 30 s in all (10 s to connect).
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    /// Hosts a request may name. `None` allows any host whose addresses are public.
    pub allowed_hosts: Option<Vec<HostPattern>>,
    /// Non-public networks that may be reached anyway (explicit opt-in), e.g. `127.0.0.1/32`
    /// in tests or an on-premises Splunk at `10.1.2.3/32`. An exact address is a `/32` or
    /// `/128` network (`IpNet::from(addr)`).
    pub allow_private_addresses: Vec<IpNet>,
    /// Response bodies longer than this fail with [`OutboundError::TooLarge`].
    pub max_response_bytes: usize,
    /// Time allowed to resolve the name and establish the connection (TLS included).
    pub connect_timeout: Duration,
    /// Time allowed for the whole exchange, body included.
    pub total_timeout: Duration,
    /// Redirects followed; every target is vetted like the first URL. Default 0.
    pub max_redirects: usize,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        Self {
            allowed_hosts: None,
            allow_private_addresses: Vec::new(),
            max_response_bytes: 10 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_redirects: 0,
        }
    }
}

impl OutboundPolicy {
    /// The default policy plus an opt-in for the loopback addresses `127.0.0.1` and `::1`:
    /// what tests against fake upstreams on 127.0.0.1 need.
    pub fn allowing_loopback() -> Self {
        Self {
            allow_private_addresses: vec![
                IpNet::from(IpAddr::from([127, 0, 0, 1])),
                IpNet::from(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
            ],
            ..Self::default()
        }
    }

    /// Whether a connection to `ip` is allowed: public, or inside an opted-in network.
    /// IPv4-mapped IPv6 addresses are matched against the opt-ins in their IPv4 form too.
    pub fn allows_address(&self, ip: IpAddr) -> bool {
        if classify(ip).is_public() {
            return true;
        }
        let canonical = ip.to_canonical();
        self.allow_private_addresses
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
    }

    /// Refuses a URL the policy does not allow, before any name is resolved: scheme other
    /// than http/https, credentials in the URL, a host off the allowlist, or an IP literal
    /// that is not allowed. Host names are vetted again, address by address, at connect time.
    pub(crate) fn check_url(&self, url: &Url) -> Result<(), OutboundError> {
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(OutboundError::SchemeNotAllowed {
                    scheme: other.to_owned(),
                });
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::InvalidUrl {
                reason: "credentials in the url are not allowed; send them in a header".into(),
            });
        }
        let host = host_of(url)?;
        if let Some(patterns) = &self.allowed_hosts
            && !patterns.iter().any(|pattern| pattern.matches(&host))
        {
            return Err(OutboundError::HostNotAllowed {
                host: host.to_string(),
            });
        }
        if let UrlHost::Ip(ip) = host
            && !self.allows_address(ip)
        {
            return Err(OutboundError::BlockedAddress {
                host: ip.to_string(),
                addr: ip,
                class: classify(ip),
            });
        }
        Ok(())
    }
}

/// The host part of a URL, normalized for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlHost {
    /// Lower-case, without a trailing dot.
    Name(String),
    Ip(IpAddr),
}

impl fmt::Display for UrlHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlHost::Name(name) => f.write_str(name),
            UrlHost::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

mod url_host {
    use std::net::IpAddr;

    use reqwest::Url;

    use super::UrlHost;
    use crate::OutboundError;

    /// The URL parser has already turned every numeric IPv4 spelling (`2130706433`,
    /// `0x7f.1`) into dotted form, so parsing `host_str` sees the real address.
    pub(crate) fn host_of(url: &Url) -> Result<UrlHost, OutboundError> {
        let Some(host) = url.host_str() else {
            return Err(OutboundError::InvalidUrl {
                reason: "the url has no host".into(),
            });
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        Ok(match bare.parse::<IpAddr>() {
            Ok(ip) => UrlHost::Ip(ip),
            Err(_) => UrlHost::Name(normalize_name(host)),
        })
    }

    pub(crate) fn normalize_name(name: &str) -> String {
        name.trim_end_matches('.').to_ascii_lowercase()
    }
}

/// One entry of the host allowlist: `api.example.com` (exactly that host), `*.example.com`
/// (any subdomain, not `example.com` itself) or an IP literal such as `10.1.2.3`.
///
/// Matching is case-insensitive and ignores a trailing dot. A pattern only says which
/// names may be asked for; the addresses they resolve to must still pass the address policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern(Pattern);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// The suffix, starting with the dot: `.example.com`.
    Subdomains(String),
    Ip(IpAddr),
}

impl HostPattern {
    /// Whether the pattern admits `host`, a host name or an IP literal (`[…]` for IPv6), as
    /// a URL would name it: for settings that restrict where configured URLs may point.
    pub fn admits(&self, host: &str) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let host = match bare.parse::<IpAddr>() {
            Ok(ip) => UrlHost::Ip(ip),
            Err(_) => UrlHost::Name(url_host::normalize_name(host)),
        };
        self.matches(&host)
    }

    pub(crate) fn matches(&self, host: &UrlHost) -> bool {
        match (&self.0, host) {
            (Pattern::Exact(pattern), UrlHost::Name(name)) => pattern == name,
            (Pattern::Subdomains(suffix), UrlHost::Name(name)) => {
                name.len() > suffix.len() && name.ends_with(suffix.as_str())
            }
            (Pattern::Ip(pattern), UrlHost::Ip(ip)) => {
                pattern == ip || pattern.to_canonical() == ip.to_canonical()
            }
            _ => false,
        }
    }
}

impl FromStr for HostPattern {
    type Err = OutboundError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| OutboundError::InvalidHostPattern {
            pattern: text.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.trim();
        let bare = trimmed.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(Self(Pattern::Ip(ip)));
        }
        let (wildcard, name) = match trimmed.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let name = url_host::normalize_name(name);
        if name.is_empty() {
            return Err(invalid("the host name is empty"));
        }
        let valid_label = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !name.split('.').all(valid_label) {
            return Err(invalid(
                "use a host name (letters, digits, hyphens), `*.` followed by one, or an ip address",
            ));
        }
        Ok(Self(if wildcard {
            Pattern::Subdomains(format!(".{name}"))
        } else {
            Pattern::Exact(name)
        }))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Pattern::Exact(name) => f.write_str(name),
            Pattern::Subdomains(suffix) => write!(f, "*{suffix}"),
            Pattern::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(text: &str) -> UrlHost {
        host_of(&Url::parse(&format!("https://{text}/")).unwrap()).unwrap()
    }

    #[test]
    fn host_patterns_match_exact_names_subdomains_and_ips() {
        let exact: HostPattern = "API.Example.com.".parse().unwrap();
        assert!(exact.matches(&host("api.example.com")));
        assert!(exact.matches(&host("api.example.com.")));
        assert!(!exact.matches(&host("evil-api.example.com")));

        let wildcard: HostPattern = "*.example.com".parse().unwrap();
        assert!(wildcard.matches(&host("a.example.com")));
        assert!(wildcard.matches(&host("a.b.example.com")));
        assert!(!wildcard.matches(&host("example.com")));
        assert!(!wildcard.matches(&host("badexample.com")));

        let ip: HostPattern = "10.1.2.3".parse().unwrap();
        assert!(ip.matches(&host("10.1.2.3")));
        assert!(!ip.matches(&host("10.1.2.4")));
        let v6: HostPattern = "[::1]".parse().unwrap();
        assert!(v6.matches(&host("[::1]")));
        assert_eq!(wildcard.to_string(), "*.example.com");

        assert!(wildcard.admits("MCP.example.com."));
        assert!(!wildcard.admits("example.com"));
        assert!(v6.admits("[::1]") && v6.admits("::1"));
        assert!(ip.admits("10.1.2.3") && !ip.admits("10.1.2.4"));
    }

    #[test]
    fn bad_host_patterns_are_refused_with_the_input() {
        for bad in ["", "*.", "exa mple.com", "http://x.com", "a..b"] {
            let err = bad.parse::<HostPattern>().unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn urls_are_vetted_before_resolution() {
        let policy = OutboundPolicy::default();
        let check = |url: &str| policy.check_url(&Url::parse(url).unwrap());
        assert!(check("https://example.com/x").is_ok());
        assert!(matches!(
            check("ftp://example.com/"),
            Err(OutboundError::SchemeNotAllowed { .. })
        ));
        assert!(matches!(
            check("https://user:pw@example.com/"),
            Err(OutboundError::InvalidUrl { .. })
        ));
        assert!(matches!(
            check("http://169.254.169.254/latest/meta-data"),
            Err(OutboundError::BlockedAddress { .. })
        ));
        assert!(matches!(
            check("http://[::ffff:127.0.0.1]/"),
            Err(OutboundError::BlockedAddress { .. })
        ));
        assert!(matches!(
            check("http://2130706433/"),
            Err(OutboundError::BlockedAddress { .. })
        ));
        assert!(matches!(
            check("http://0x7f.1/"),
            Err(OutboundError::BlockedAddress { .. })
        ));
        assert!(check("http://8.8.8.8/").is_ok());

        let allowlisted = OutboundPolicy {
            allowed_hosts: Some(vec!["*.splunkcloud.com".parse().unwrap()]),
            ..OutboundPolicy::default()
        };
        assert!(
            allowlisted
                .check_url(&Url::parse("https://acme.splunkcloud.com:8088/").unwrap())
                .is_ok()
        );
        assert!(matches!(
            allowlisted.check_url(&Url::parse("https://example.com/").unwrap()),
            Err(OutboundError::HostNotAllowed { .. })
        ));
    }

    #[test]
    fn opt_ins_allow_exact_addresses_and_networks() {
        let policy = OutboundPolicy {
            allow_private_addresses: vec![
                IpNet::from(IpAddr::from([127, 0, 0, 1])),
                "10.20.0.0/16".parse().unwrap(),
            ],
            ..OutboundPolicy::default()
        };
        assert!(policy.allows_address("127.0.0.1".parse().unwrap()));
        assert!(policy.allows_address("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!policy.allows_address("127.0.0.2".parse().unwrap()));
        assert!(policy.allows_address("10.20.3.4".parse().unwrap()));
        assert!(!policy.allows_address("10.21.0.1".parse().unwrap()));
        assert!(!policy.allows_address("169.254.169.254".parse().unwrap()));
        assert!(policy.allows_address("8.8.8.8".parse().unwrap()));
        assert!(!OutboundPolicy::default().allows_address("::1".parse().unwrap()));
        assert!(OutboundPolicy::allowing_loopback().allows_address("::1".parse().unwrap()));
    }
}
