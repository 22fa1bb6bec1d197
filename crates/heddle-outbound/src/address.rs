//! Which IP addresses an outbound request may reach. Everything that is not a public unicast
//! address is classified so the policy can refuse it before a socket is opened.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of address an IP is, as far as SSRF protection cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// Globally routable unicast: the only class allowed without an explicit opt-in.
    Public,
    /// `0.0.0.0`, `::` — on Linux a connect to it reaches the local host.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`) and the deprecated IPv6 site-local `fec0::/10`.
    Private,
    /// RFC 6598 carrier-grade NAT, `100.64.0.0/10`.
    SharedAddressSpace,
    /// `169.254.0.0/16` (cloud metadata lives at `169.254.169.254`) and `fe80::/10`.
    LinkLocal,
    /// IPv6 unique local addresses, `fc00::/7`.
    UniqueLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// Everything else that is not public unicast: `0/8`, `192.0.0/24`, benchmarking
    /// `198.18/15`, `240/4`, IPv6 outside `2000::/3`, discard-only, Teredo and other
    /// protocol-assignment ranges.
    Reserved,
}

impl AddressClass {
    /// Whether the class may be reached without an explicit opt-in.
    pub fn is_public(self) -> bool {
        self == AddressClass::Public
    }

    fn describe(self) -> &'static str {
        match self {
            AddressClass::Public => "a public address",
            AddressClass::Unspecified => "the unspecified address",
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private address",
            AddressClass::SharedAddressSpace => "a carrier-grade NAT address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::UniqueLocal => "a unique-local address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Broadcast => "the broadcast address",
            AddressClass::Documentation => "a documentation address",
            AddressClass::Reserved => "a reserved address",
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Classifies `ip`. IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible,
/// NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) take the class of the embedded address, because a
/// connect to them can end up at that IPv4 address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() {
        AddressClass::Unspecified
    } else if ip.is_broadcast() {
        AddressClass::Broadcast
    } else if a == 127 {
        AddressClass::Loopback
    } else if a == 10 || (a == 172 && (16..=31).contains(&b)) || (a == 192 && b == 168) {
        AddressClass::Private
    } else if a == 100 && (64..=127).contains(&b) {
        AddressClass::SharedAddressSpace
    } else if a == 169 && b == 254 {
        AddressClass::LinkLocal
    } else if (224..=239).contains(&a) {
        AddressClass::Multicast
    } else if (a == 192 && b == 0 && c == 2)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
    {
        AddressClass::Documentation
    } else if a == 0
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..=19).contains(&b))
        || (a == 192 && b == 88 && c == 99)
    {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let segments = ip.segments();
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    if let Some(embedded) = embedded_v4(ip) {
        return classify_v4(embedded);
    }
    let first = segments[0];
    if first & 0xff00 == 0xff00 {
        AddressClass::Multicast
    } else if first & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if first & 0xffc0 == 0xfec0 {
        AddressClass::Private
    } else if first & 0xfe00 == 0xfc00 {
        AddressClass::UniqueLocal
    } else if (first == 0x2001 && segments[1] == 0x0db8) || first & 0xfff0 == 0x3ff0 {
        AddressClass::Documentation
    } else if first & 0xe000 != 0x2000
        // 2001::/23: IETF protocol assignments, including Teredo 2001::/32.
        || (first == 0x2001 && segments[1] < 0x0200)
    {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

/// The IPv4 address an IPv6 address stands for, where the IPv6 form is a way to reach it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (deprecated compatible form).
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        // NAT64 well-known prefix 64:ff9b::/96 (the local-use 64:ff9b:1::/48 is Reserved).
        [0x0064, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let table: &[(&str, AddressClass)] = &[
            ("8.8.8.8", AddressClass::Public),
            ("1.1.1.1", AddressClass::Public),
            ("93.184.216.34", AddressClass::Public),
            ("0.0.0.0", AddressClass::Unspecified),
            ("0.1.2.3", AddressClass::Reserved),
            ("127.0.0.1", AddressClass::Loopback),
            ("127.255.255.254", AddressClass::Loopback),
            ("10.0.0.1", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("172.32.0.1", AddressClass::Public),
            ("172.15.255.255", AddressClass::Public),
            ("192.168.1.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::SharedAddressSpace),
            ("100.127.255.255", AddressClass::SharedAddressSpace),
            ("100.128.0.1", AddressClass::Public),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("169.254.0.1", AddressClass::LinkLocal),
            ("224.0.0.1", AddressClass::Multicast),
            ("239.255.255.250", AddressClass::Multicast),
            ("255.255.255.255", AddressClass::Broadcast),
            ("240.0.0.1", AddressClass::Reserved),
            ("192.0.0.8", AddressClass::Reserved),
            ("198.18.0.1", AddressClass::Reserved),
            ("192.0.2.1", AddressClass::Documentation),
            ("198.51.100.7", AddressClass::Documentation),
            ("203.0.113.9", AddressClass::Documentation),
            ("::", AddressClass::Unspecified),
            ("::1", AddressClass::Loopback),
            ("fe80::1", AddressClass::LinkLocal),
            ("febf::1", AddressClass::LinkLocal),
            ("fec0::1", AddressClass::Private),
            ("fc00::1", AddressClass::UniqueLocal),
            ("fd12:3456::1", AddressClass::UniqueLocal),
            ("ff02::1", AddressClass::Multicast),
            ("2001:db8::1", AddressClass::Documentation),
            ("3fff::1", AddressClass::Documentation),
            ("2001::1", AddressClass::Reserved),
            ("100::1", AddressClass::Reserved),
            ("4000::1", AddressClass::Reserved),
            ("2606:4700:4700::1111", AddressClass::Public),
            ("2001:4860:4860::8888", AddressClass::Public),
            // IPv4 hidden inside IPv6 takes the IPv4 class.
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::ffff:169.254.169.254", AddressClass::LinkLocal),
            ("::ffff:10.1.2.3", AddressClass::Private),
            ("::ffff:8.8.8.8", AddressClass::Public),
            ("::127.0.0.1", AddressClass::Loopback),
            ("64:ff9b::a9fe:a9fe", AddressClass::LinkLocal),
            ("64:ff9b::808:808", AddressClass::Public),
            ("64:ff9b:1::1", AddressClass::Reserved),
            ("2002:7f00:1::", AddressClass::Loopback),
            ("2002:c0a8:101::1", AddressClass::Private),
            ("2002:808:808::1", AddressClass::Public),
        ];
        for (text, expected) in table {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(classify(ip), *expected, "{text}");
        }
    }

    #[test]
    fn only_public_is_public() {
        assert!(AddressClass::Public.is_public());
        assert!(!AddressClass::Loopback.is_public());
        assert_eq!(AddressClass::LinkLocal.to_string(), "a link-local address");
    }
}
