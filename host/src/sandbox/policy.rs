//! The network policy: which origins a job may reach, and which of them may lead to a
//! non-public address. Pure data and predicates; the [`hooks`](super::hooks) apply it
//! to every outgoing request, and the [`client`](super::client) checks the addresses.

use std::fmt;
use std::str::FromStr;

/// One rule of the policy, parsed from `--allow-host` or derived from a URL in the
/// job's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowRule {
    /// Exactly this scheme, host and port.
    Origin {
        /// `http` or `https`.
        scheme: String,
        /// The host name or IP literal, lower case.
        host: String,
        /// The port (the scheme's default when the rule names none).
        port: u16,
    },
    /// Any subdomain of `domain` (and `domain` itself) on this scheme and port, as
    /// OpenCRVS's `https://<service>.<domain>` hosts need.
    Subdomains {
        /// `http` or `https`.
        scheme: String,
        /// The parent domain, lower case.
        domain: String,
        /// The port.
        port: u16,
    },
}

impl AllowRule {
    /// Whether a request to `scheme://host:port` passes this rule.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        match self {
            AllowRule::Origin {
                scheme: s,
                host: h,
                port: p,
            } => s == scheme && *h == host && *p == port,
            AllowRule::Subdomains {
                scheme: s,
                domain,
                port: p,
            } => {
                // `*.0.0.1` must not match the address 10.0.0.1.
                s == scheme
                    && *p == port
                    && host.parse::<std::net::IpAddr>().is_err()
                    && (host == *domain
                        || host
                            .strip_suffix(domain.as_str())
                            .is_some_and(|rest| rest.ends_with('.')))
            }
        }
    }
}

/// The default port of `http` and `https`.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl FromStr for AllowRule {
    type Err = String;

    /// Parses `scheme://host[:port]` or `scheme://*.domain[:port]`; a bare `host[:port]`
    /// means https.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let teach = |problem: &str| {
            format!(
                "{problem} in allow rule {s:?}: expected scheme://host[:port] or scheme://*.domain[:port], e.g. https://demo-v3.openlmis.org or http://127.0.0.1:8080"
            )
        };
        let (scheme, rest) = s.split_once("://").unwrap_or(("https", s));
        let scheme = scheme.to_ascii_lowercase();
        let default = default_port(&scheme).ok_or_else(|| teach("the scheme must be http or https"))?;
        let rest = rest.trim_end_matches('/');
        if rest.contains(['/', '?', '#', '@']) {
            return Err(teach("a path, query or user name is not allowed"));
        }
        let (host, port) = split_port(rest).map_err(|e| teach(&e))?;
        let port = port.unwrap_or(default);
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if host.is_empty() {
            return Err(teach("the host is empty"));
        }
        match host.strip_prefix("*.") {
            Some(domain) if !domain.is_empty() && !domain.contains('*') => Ok(AllowRule::Subdomains {
                scheme,
                domain: domain.to_string(),
                port,
            }),
            _ if host.contains('*') => Err(teach("a wildcard may only stand first, as *.domain")),
            _ => Ok(AllowRule::Origin { scheme, host, port }),
        }
    }
}

fn split_port(authority: &str) -> Result<(&str, Option<u16>), String> {
    // IPv6 literal: [::1]:8080
    if let Some(end) = authority.find(']') {
        let (host, rest) = authority.split_at(end + 1);
        return match rest.strip_prefix(':') {
            Some(p) => Ok((host, Some(p.parse().map_err(|_| format!("bad port {p:?}"))?))),
            None if rest.is_empty() => Ok((host, None)),
            None => Err("junk after the IPv6 address".into()),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, p)) => Ok((host, Some(p.parse().map_err(|_| format!("bad port {p:?}"))?))),
        None => Ok((authority, None)),
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowRule::Origin { scheme, host, port } => write!(f, "{scheme}://{host}:{port}"),
            AllowRule::Subdomains { scheme, domain, port } => write!(f, "{scheme}://*.{domain}:{port}"),
        }
    }
}

/// The origins one job may reach.
///
/// A host *name* the job's configuration gives must resolve to a public address: a
/// configuration is data, and pointing `baseUrl` at a name that resolves to loopback
/// or 169.254.169.254 must not open the host's own network. The operator's rules
/// (`--allow-host`) and IP literals, written by whoever configured them, may lead
/// anywhere they name.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Vec<AllowRule>,
    operator: Vec<AllowRule>,
}

impl Policy {
    /// A policy of exactly these rules, none of them the operator's.
    pub fn new(rules: Vec<AllowRule>) -> Policy {
        Policy {
            rules,
            operator: Vec::new(),
        }
    }

    /// This policy with `operator` marked as the operator's rules (`--allow-host`):
    /// names they allow may resolve to non-public addresses. Rules not yet in the
    /// policy are added.
    pub fn with_operator_rules(mut self, operator: &[AllowRule]) -> Policy {
        for rule in operator {
            if !self.rules.contains(rule) {
                self.rules.push(rule.clone());
            }
        }
        self.operator = operator.to_vec();
        self
    }

    /// Whether a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.rules.iter().any(|r| r.allows(scheme, host, port))
    }

    /// Whether an allowed request to `scheme://host:port` may connect to a non-public
    /// address: `host` is an IP literal, or an operator rule allows the origin.
    pub fn allows_any_address(&self, scheme: &str, host: &str, port: u16) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<std::net::IpAddr>().is_ok() || self.operator.iter().any(|r| r.allows(scheme, host, port))
    }

    /// The rules, for messages.
    pub fn rules(&self) -> &[AllowRule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> AllowRule {
        s.parse().unwrap()
    }

    #[test]
    fn origin_rule_allows_exact_origin_only() {
        let r = rule("http://127.0.0.1:8080");
        assert!(r.allows("http", "127.0.0.1", 8080));
        assert!(!r.allows("http", "127.0.0.1", 8081), "other port");
        assert!(!r.allows("https", "127.0.0.1", 8080), "other scheme");
        assert!(!r.allows("http", "127.0.0.2", 8080), "other host");
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        assert!(rule("https://example.org").allows("https", "example.org", 443));
        assert!(rule("example.org").allows("https", "EXAMPLE.org", 443));
        assert!(!rule("https://example.org").allows("https", "example.org", 8443));
    }

    #[test]
    fn subdomain_rule_does_not_match_lookalikes() {
        let r = rule("https://*.opencrvs.org");
        assert!(r.allows("https", "gateway.opencrvs.org", 443));
        assert!(r.allows("https", "opencrvs.org", 443));
        assert!(!r.allows("https", "evilopencrvs.org", 443));
        assert!(!r.allows("https", "opencrvs.org.evil.com", 443));
    }

    #[test]
    fn rejects_paths_userinfo_and_bad_wildcards() {
        for bad in [
            "https://a.org/path",
            "https://user@a.org",
            "ftp://a.org",
            "https://a.*.org",
            "https://:80",
        ] {
            assert!(bad.parse::<AllowRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn subdomain_rules_never_match_ip_literals() {
        assert!(!rule("http://*.0.0.1").allows("http", "10.0.0.1", 80));
    }

    #[test]
    fn only_operator_rules_and_ip_literals_may_reach_any_address() {
        let configured = rule("http://internal.example.test:8080");
        let policy = Policy::new(vec![configured.clone(), rule("http://127.0.0.1:9")]);
        assert!(policy.allows("http", "internal.example.test", 8080));
        assert!(!policy.allows_any_address("http", "internal.example.test", 8080));
        assert!(policy.allows_any_address("http", "127.0.0.1", 9));
        assert!(policy.allows_any_address("http", "[::1]", 9));

        let trusted = policy.with_operator_rules(&[configured, rule("http://*.corp.test")]);
        assert!(trusted.allows_any_address("http", "internal.example.test", 8080));
        assert!(trusted.allows("http", "a.corp.test", 80), "added to the rules");
        assert!(trusted.allows_any_address("http", "a.corp.test", 80));
        assert_eq!(trusted.rules().len(), 3, "no duplicate rule");
    }

    #[test]
    fn ipv6_literals_parse() {
        assert!(rule("http://[::1]:9000").allows("http", "[::1]", 9000));
    }
}
