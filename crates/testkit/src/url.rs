//! Just enough of a PostgreSQL URL to point it at another database or another address.

use std::fmt;

/// `scheme://[user@]host[:port]/database[?query]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    scheme: String,
    user_info: Option<String>,
    pub host: String,
    pub port: u16,
    database: String,
    query: Option<String>,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("{url:?} has no scheme"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query.to_owned())),
            None => (rest, None),
        };
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (user_info, host_port) = match authority.rsplit_once('@') {
            Some((user, host)) => (Some(user.to_owned()), host),
            None => (None, authority),
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| format!("bad port in {url:?}"))?),
            None => (host_port, 5432),
        };
        Ok(DatabaseUrl {
            scheme: scheme.to_owned(),
            user_info,
            host: if host.is_empty() { "localhost".into() } else { host.to_owned() },
            port,
            database: database.to_owned(),
            query,
        })
    }

    pub fn with_database(mut self, database: &str) -> Self {
        self.database = database.to_owned();
        self
    }

    pub fn with_address(mut self, host: &str, port: u16) -> Self {
        self.host = host.to_owned();
        self.port = port;
        self
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if let Some(user) = &self.user_info {
            write!(f, "{user}@")?;
        }
        write!(f, "{}:{}/{}", self.host, self.port, self.database)?;
        if let Some(query) = &self.query {
            write!(f, "?{query}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_database_and_address() {
        let url = DatabaseUrl::parse("postgres://postgres:pw@db.local:6543/postgres?sslmode=disable").unwrap();
        assert_eq!(url.host, "db.local");
        assert_eq!(url.port, 6543);
        assert_eq!(
            url.with_database("t1").with_address("127.0.0.1", 7).to_string(),
            "postgres://postgres:pw@127.0.0.1:7/t1?sslmode=disable"
        );
        assert_eq!(DatabaseUrl::parse("postgres://u@h/db").unwrap().port, 5432);
    }
}
