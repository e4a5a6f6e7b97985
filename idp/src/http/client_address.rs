//! `--trusted-proxies`: behind a reverse proxy every request comes from
//! the proxy's address, so the per-address limits would count all clients
//! as one. When the peer is a trusted proxy, this layer takes the client
//! address from `Forwarded` (RFC 7239) or, without it, `X-Forwarded-For`:
//! the rightmost hop that is not itself a trusted proxy (hops further left
//! were written by the client and prove nothing). It replaces the
//! connection's `ConnectInfo`, so every handler reads the client address
//! the usual way. Off by default: the headers are then ignored, since
//! anyone can send them.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use ipnet::IpNet;

/// Rewrites the request's `ConnectInfo` to the forwarded client address
/// when the peer is a trusted proxy (a request mapper: see
/// [`crate::http::api`]).
pub fn rewrite(proxies: &[IpNet], mut request: Request) -> Request {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    if let Some(peer) = peer {
        let client = client_address(proxies, peer.ip(), request.headers());
        if client != peer.ip() {
            let port = peer.port();
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(client, port)));
        }
    }
    request
}

/// The client address of a request from `peer` with `headers`.
pub fn client_address(proxies: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let trusted = |ip: &IpAddr| proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let hops = forwarded_hops(headers);
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            // Unreadable (`unknown`, an obfuscated name): nothing further
            // left can be trusted; the last proxy is the best we know.
            None => break,
            Some(ip) => {
                client = *ip;
                if !trusted(ip) {
                    break;
                }
            }
        }
    }
    client
}

/// The `for=` hops of `Forwarded`, or else those of `X-Forwarded-For`, in
/// order (client first); `None` for a hop that names no address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<Option<IpAddr>> = headers
        .get_all("forwarded")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("").split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_node(value.trim().trim_matches('"')))
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("").split(','))
        .map(|hop| parse_node(hop.trim()))
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:8080`,
/// `[2001:db8::1]`, `[2001:db8::1]:8080` or a bare `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.parse::<SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("header"));
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn proxies() -> Vec<IpNet> {
        vec!["10.0.0.0/8".parse().expect("cidr")]
    }

    #[test]
    fn headers_from_untrusted_peers_are_ignored() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(
            client_address(&proxies(), ip("203.0.113.9"), &h),
            ip("203.0.113.9")
        );
        assert_eq!(client_address(&[], ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        // The client forged the first entry; the proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "192.0.2.66, 198.51.100.7, 10.1.1.1")]);
        assert_eq!(
            client_address(&proxies(), ip("10.0.0.1"), &h),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_reads_every_form() {
        let h = headers(&[
            ("x-forwarded-for", "192.0.2.66"),
            (
                "forwarded",
                "for=192.0.2.1;proto=https, for=\"[2001:db8::7]:4711\"",
            ),
        ]);
        assert_eq!(
            client_address(&proxies(), ip("10.0.0.1"), &h),
            ip("2001:db8::7")
        );
        let h = headers(&[("forwarded", "for=198.51.100.7:1234;by=10.0.0.1")]);
        assert_eq!(
            client_address(&proxies(), ip("10.0.0.1"), &h),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn an_unreadable_hop_stops_at_the_last_proxy() {
        let h = headers(&[("forwarded", "for=unknown, for=10.2.2.2")]);
        assert_eq!(
            client_address(&proxies(), ip("10.0.0.1"), &h),
            ip("10.2.2.2")
        );
        let h = headers(&[]);
        assert_eq!(
            client_address(&proxies(), ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }
}
