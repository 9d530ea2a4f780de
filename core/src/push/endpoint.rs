//! The management endpoint (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`),
//! parsed once into the parts every post reuses.

/// The parts of the management endpoint every post reuses.
#[derive(Debug)]
pub(super) struct Endpoint {
    /// `https://abc.execute-api.eu-west-1.amazonaws.com`
    pub origin: String,
    /// `/production` (no trailing slash; may be empty)
    pub stage_path: String,
    /// Host as sent: the port only when it is not the scheme's default.
    pub host: String,
}

impl Endpoint {
    pub fn parse(endpoint: &str) -> Result<Endpoint, String> {
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| format!("management endpoint {endpoint:?} is not a URL: {e}"))?;
        let scheme = uri.scheme_str().unwrap_or("");
        if scheme != "https" && scheme != "http" {
            return Err(format!(
                "management endpoint {endpoint:?} must start with https:// or http://"
            ));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("management endpoint {endpoint:?} has no host"))?;
        let default_port = if scheme == "https" { 443 } else { 80 };
        let host = match authority.port_u16() {
            Some(p) if p != default_port => format!("{}:{p}", authority.host()),
            _ => authority.host().to_owned(),
        };
        Ok(Endpoint {
            origin: format!("{scheme}://{host}"),
            stage_path: uri.path().trim_end_matches('/').to_owned(),
            host,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_the_stage_and_drop_default_ports() {
        let e = Endpoint::parse("https://abc.execute-api.eu-west-1.amazonaws.com:443/production/").unwrap();
        assert_eq!(e.origin, "https://abc.execute-api.eu-west-1.amazonaws.com");
        assert_eq!(e.stage_path, "/production");
        assert_eq!(e.host, "abc.execute-api.eu-west-1.amazonaws.com");
        let e = Endpoint::parse("http://127.0.0.1:3001/development").unwrap();
        assert_eq!(
            (e.host.as_str(), e.stage_path.as_str()),
            ("127.0.0.1:3001", "/development")
        );
        assert!(Endpoint::parse("ftp://x/y").unwrap_err().contains("https://"));
        assert!(Endpoint::parse("not a url").is_err());
    }
}
