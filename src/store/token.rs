//! The read-your-writes vocabulary: [`WriteToken`], a position in the primary's write-ahead
//! log, and [`ReadFrom`], which node a handle's reads may use.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A position in the primary's write-ahead log at or after the commit of a write: a read that
/// requires it is served only by a node that has replayed at least that far, so it sees the
/// write.
///
/// Printed and parsed as PostgreSQL prints an LSN (`16/B374D848`), so a service can hand it to
/// another process (e.g. in a session cookie) and read there with
/// [`ReadFrom::AtLeast`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteToken(u64);

impl WriteToken {
    /// The token of an LSN given as a number (`pg_lsn - '0/0'`).
    pub fn from_lsn(lsn: u64) -> Self {
        Self(lsn)
    }

    /// The LSN as a number.
    pub fn lsn(self) -> u64 {
        self.0
    }
}

impl fmt::Display for WriteToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl FromStr for WriteToken {
    type Err = Error;

    /// Parses `XXXXXXXX/XXXXXXXX` (hexadecimal, 1 to 8 digits each side, spaces around the
    /// whole allowed), as `pg_lsn` prints it.
    fn from_str(text: &str) -> Result<Self> {
        let refuse = || Error::Config {
            variable: "WriteToken",
            reason: format!("{text:?} is not an LSN like 16/B374D848"),
        };
        let (high, low) = text.trim().split_once('/').ok_or_else(refuse)?;
        let half = |part: &str| {
            if part.is_empty() || part.len() > 8 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u64::from_str_radix(part, 16).ok()
        };
        match (half(high), half(low)) {
            (Some(high), Some(low)) => Ok(Self((high << 32) | low)),
            _ => Err(refuse()),
        }
    }
}

/// Which node may answer a read, and what it must have seen. Set per handle with
/// [`Store::reading`](crate::Store::reading); without replicas every read goes to the primary
/// whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReadFrom {
    /// A replica that has replayed this store's own last committed write (shared by all clones
    /// of the [`Store`](crate::Store)), else the primary. The default: a service that writes
    /// and then reads, on any thread, sees what it wrote.
    #[default]
    OwnWrites,
    /// A replica that has replayed at least this token (e.g. one another process handed over),
    /// else the primary.
    AtLeast(WriteToken),
    /// Any replica in service (lagging by less than
    /// [`Config::replica_max_lag`](crate::Config::replica_max_lag)), else the primary: may miss
    /// writes of the last moments, including this store's own.
    AnyReplica,
    /// Always the primary.
    Primary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_print_and_parse_like_pg_lsn() {
        let token: WriteToken = "16/B374D848".parse().unwrap();
        assert_eq!(token.lsn(), (0x16 << 32) | 0xB374_D848);
        assert_eq!(token.to_string(), "16/B374D848");
        assert_eq!(" 0/0 ".parse::<WriteToken>().unwrap().lsn(), 0);
        assert_eq!(
            "FFFFFFFF/FFFFFFFF".parse::<WriteToken>().unwrap().lsn(),
            u64::MAX
        );
        assert_eq!("a/b".parse::<WriteToken>().unwrap().to_string(), "A/B");
        for bad in [
            "",
            "/",
            "16/",
            "/16",
            "16",
            "1/2/3",
            "g/1",
            "1 /2",
            "123456789/0",
            "+1/2",
            "-1/2",
            "0x1/2",
            "1/2;DROP",
            "'1/2'",
        ] {
            let error = bad.parse::<WriteToken>().unwrap_err().to_string();
            assert!(error.contains("not an LSN"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn tokens_order_by_position() {
        let low: WriteToken = "1/FFFFFFFF".parse().unwrap();
        let high: WriteToken = "2/0".parse().unwrap();
        assert!(low < high);
        assert_eq!(WriteToken::from_lsn(high.lsn()), high);
    }
}
