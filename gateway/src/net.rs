//! Where a URL that an organization chose may lead. An organization's provider (or anything else
//! a tenant names) must not become a way into the operator's network: loopback, private,
//! link-local, carrier-grade NAT, multicast, broadcast and unspecified addresses are refused, in
//! IPv4, IPv6 and the IPv4 forms carried in IPv6. Names are checked as they are resolved for the
//! connection itself ([`PublicOnly`]), so an answer cannot change between a check and its use;
//! a literal address is checked as written ([`check_literal`]).

use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

pub use netguard::is_public;

/// Why `url`'s host, when it is a literal address, may not be reached; `None` for a name (which
/// [`PublicOnly`] checks as it resolves) or a public address.
pub fn check_literal(url: &reqwest::Url) -> Option<String> {
    // The URL parser writes every literal form (`2130706433`, `0x7f.1`) as its dotted or
    // bracketed address.
    let host = url.host_str()?;
    let ip: IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    (!is_public(ip)).then(|| refusal(&ip.to_string()))
}

fn refusal(host: &str) -> String {
    format!(
        "{host} is not a public internet address (loopback, private, link-local and the like are \
         refused for an organization's provider); the operator can allow private addresses with \
         gateway.allow_private_providers"
    )
}

/// A resolver that gives only public addresses, and an error naming the host when there are none.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public: Vec<SocketAddr> = found.filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(refusal(&host).into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_address_is_judged_as_written_and_a_name_when_it_resolves() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        assert!(check_literal(&url("http://127.0.0.1:11434/v1")).is_some());
        assert!(check_literal(&url("http://[::ffff:7f00:1]/v1")).is_some());
        assert!(check_literal(&url("http://2130706433/v1")).is_some(), "127.0.0.1 as a number");
        assert!(check_literal(&url("https://api.openai.com/v1")).is_none());
        assert!(check_literal(&url("https://1.1.1.1/v1")).is_none());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_at_resolution() {
        let refused = PublicOnly.resolve("localhost".parse().unwrap()).await.err().unwrap();
        assert!(refused.to_string().contains("not a public internet address"), "{refused}");
    }
}
