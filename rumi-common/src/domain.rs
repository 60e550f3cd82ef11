//! Host-name patterns of network grants.
//!
//! A pattern is `*` (any host), `*.example.com` (example.com itself and any subdomain at any
//! depth), or an exact host name or IP literal. Comparison is case-insensitive and ignores
//! one trailing dot. No other globbing: `*` inside a name matches nothing.

/// Normalises a host for comparison: lower case, one trailing dot removed, IPv6 brackets removed.
pub fn normalize(host: &str) -> String {
    let h = host.trim().trim_end_matches('.');
    let h = h.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(h);
    h.to_ascii_lowercase()
}

/// Whether `pattern` allows `host`.
pub fn matches(pattern: &str, host: &str) -> bool {
    let pattern = normalize(pattern);
    let host = normalize(host);
    if host.is_empty() {
        return false;
    }
    if pattern == "*" {
        return true;
    }
    if let Some(suffix) = pattern.strip_prefix("*.") {
        if suffix.is_empty() || suffix.contains('*') {
            return false;
        }
        return host == suffix || host.ends_with(&format!(".{suffix}"));
    }
    !pattern.contains('*') && pattern == host
}

/// Why a grant does not cover a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantMiss {
    Domain,
    Port,
}

/// Whether a grant's lists cover `host:port`. Empty lists deny everything (fail closed);
/// `*` is any domain and port `0` any port.
///
/// # Errors
/// Which list did not match.
pub fn grant_covers(domains: &[String], ports: &[u32], host: &str, port: u16) -> Result<(), GrantMiss> {
    if !domains.iter().any(|p| matches(p, host)) {
        return Err(GrantMiss::Domain);
    }
    if !ports.iter().any(|&p| p == 0 || p == u32::from(port)) {
        return Err(GrantMiss::Port);
    }
    Ok(())
}

/// Validates a pattern as an operator may grant it; returns the normalised form.
///
/// # Errors
/// A message for empty patterns, misplaced wildcards or characters not allowed in host names.
pub fn validate_pattern(pattern: &str) -> Result<String, String> {
    let p = normalize(pattern);
    if p.is_empty() {
        return Err("empty domain".into());
    }
    if p == "*" {
        if pattern.trim() != "*" {
            return Err(format!("{pattern:?} is not a host name or *.suffix pattern"));
        }
        return Ok(p);
    }
    if p.parse::<std::net::IpAddr>().is_ok() {
        return Ok(p);
    }
    let name = p.strip_prefix("*.").unwrap_or(&p);
    if name.len() > 253 || name.is_empty() {
        return Err(format!("{pattern:?} is not a host name"));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("{pattern:?} is not a host name or *.suffix pattern"));
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_documented() {
        assert!(matches("api.example.com", "API.Example.com."));
        assert!(!matches("api.example.com", "example.com"));
        assert!(matches("*.example.com", "example.com"));
        assert!(matches("*.example.com", "a.b.example.com"));
        assert!(!matches("*.example.com", "badexample.com"));
        assert!(!matches("*.example.com", "example.com.evil.net"));
        assert!(matches("*", "anything.net"));
        assert!(!matches("api.*.com", "api.x.com"));
        assert!(matches("127.0.0.1", "127.0.0.1"));
        assert!(matches("::1", "[::1]"));
        assert!(!matches("example.com", ""));
    }

    #[test]
    fn patterns_are_validated() {
        assert_eq!(validate_pattern("API.example.com.").unwrap(), "api.example.com");
        assert_eq!(validate_pattern("*.x.org").unwrap(), "*.x.org");
        for bad in [
            "",
            "*.",
            "a..b",
            "*x.com",
            "a.*.b",
            "exa mple.com",
            "-a.com",
            "a/b",
            "http://x",
        ] {
            assert!(validate_pattern(bad).is_err(), "{bad}");
        }
    }
}
