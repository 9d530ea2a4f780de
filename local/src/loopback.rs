//! Whether an HTTP request comes from this machine and no web page of another host: the
//! development endpoints (`dev/`) and the management API (`management.rs`) both ask.
//!
//! A loopback peer is not enough: a web page open in the developer's browser is on this
//! machine too. A page of another origin can send a simple POST without a preflight (CSRF),
//! and a DNS name its owner points at 127.0.0.1 makes the browser send it as same-origin (DNS
//! rebinding). So the request must also be addressed to a loopback name (`Host`) and come from
//! no page or a loopback page (`Origin`).

use std::net::IpAddr;

use axum::http::{header, HeaderMap};

/// Why a request is not this machine's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stranger {
    /// `Host` is missing or names another host (DNS rebinding).
    Host,
    /// A browser sent it from a page of another host.
    Origin,
}

/// `Host` names this machine, and `Origin`, when a browser sent one, is a page of this machine.
pub(crate) fn same_machine(headers: &HeaderMap) -> Result<(), Stranger> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !host.is_some_and(is_loopback_authority) {
        return Err(Stranger::Host);
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let page = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("http://").or_else(|| o.strip_prefix("https://")));
        if !page.is_some_and(is_loopback_authority) {
            return Err(Stranger::Origin);
        }
    }
    Ok(())
}

/// `localhost`, `127.0.0.1`, `[::1]`..., with or without a port.
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((ip, rest)) if rest.is_empty() || is_port(rest) => ip,
            _ => return false,
        },
        None => match authority.rsplit_once(':') {
            Some((h, port)) if is_port(&format!(":{port}")) => h,
            Some(_) => return false,
            None => authority,
        },
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_port(colon_port: &str) -> bool {
    colon_port
        .strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::is_loopback_authority as ok;

    #[test]
    fn loopback_names_only() {
        for yes in [
            "localhost",
            "LOCALHOST:3001",
            "127.0.0.1",
            "127.0.0.1:3001",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:3001",
        ] {
            assert!(ok(yes), "{yes}");
        }
        for no in [
            "evil.example",
            "evil.example:3001",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.1:3001",
            "[::2]:3001",
            "[::1]x",
            "localhost:",
            "localhost:abc",
            "",
        ] {
            assert!(!ok(no), "{no}");
        }
    }
}
