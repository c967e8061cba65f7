//! ClickHouse over HTTP: run a statement, insert a batch, stream a query
//! result; and the one decision the shipper cares about, whether a failure
//! was caused by the data ([`ChError::is_data_error`]: set the record aside)
//! or by the server or network (back off and retry the same data).

use std::io::BufRead;

use super::http::{self, Body, HttpError, Timeouts};
use super::url::Endpoint;

#[derive(Debug, thiserror::Error)]
pub enum ChError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The server answered with an error.
    #[error("{server}: HTTP {status}: {message}")]
    Server {
        server: String,
        status: u16,
        /// ClickHouse's error code (`Code: N` in the message), 0 if none.
        code: u32,
        message: String,
    },
}

/// ClickHouse error codes that mean "this input could not be parsed or does
/// not fit the column", as opposed to trouble on the server.
const DATA_ERRORS: &[u32] = &[
    6,   // CANNOT_PARSE_TEXT
    25,  // CANNOT_PARSE_ESCAPE_SEQUENCE
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32,  // ATTEMPT_TO_READ_AFTER_EOF
    33,  // CANNOT_READ_ALL_DATA
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    53,  // TYPE_MISMATCH
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    117, // INCORRECT_DATA
    130, // CANNOT_READ_ARRAY_FROM_TEXT
    131, // TOO_LARGE_STRING_SIZE
    321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
];

impl ChError {
    /// The server refused the data itself: retrying it can never succeed.
    pub fn is_data_error(&self) -> bool {
        matches!(self, ChError::Server { code, .. } if DATA_ERRORS.contains(code))
    }
}

/// Parses `Code: N` from a ClickHouse error message.
pub fn error_code(message: &str) -> u32 {
    message
        .find("Code: ")
        .map(|i| &message[i + 6..])
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// One server.
#[derive(Debug, Clone)]
pub struct Client {
    pub endpoint: Endpoint,
    pub timeouts: Timeouts,
}

impl Client {
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            timeouts: Timeouts::default(),
        }
    }

    fn check(&self, r: http::Response) -> Result<Body, ChError> {
        if r.status == 200 {
            return Ok(r.body);
        }
        let status = r.status;
        let message = r.text(4096).trim().to_owned();
        Err(ChError::Server {
            server: self.endpoint.display(),
            status,
            code: error_code(&message),
            message,
        })
    }

    /// Runs `sql` (sent as the body) and returns its output as text.
    pub fn exec(&self, sql: &str) -> Result<String, ChError> {
        let r = http::post(&self.endpoint, "/", sql.as_bytes(), self.timeouts)?;
        let mut body = self.check(r)?;
        let mut out = String::new();
        std::io::Read::read_to_string(&mut body, &mut out).map_err(|source| HttpError::Io {
            addr: self.endpoint.display(),
            what: "reading the result",
            source,
        })?;
        Ok(out)
    }

    /// Runs a query whose result is streamed back.
    pub fn query(&self, sql: &str) -> Result<Body, ChError> {
        let r = http::post(&self.endpoint, "/", sql.as_bytes(), self.timeouts)?;
        self.check(r)
    }

    /// `INSERT INTO table FORMAT JSONEachRow` with `rows` as the data.
    pub fn insert(&self, table: &str, rows: &[u8]) -> Result<(), ChError> {
        let q = format!(
            "/?query={}",
            http::encode_query(&format!(
                "INSERT INTO {}.{table} FORMAT JSONEachRow",
                self.endpoint.database
            ))
        );
        let r = http::post(&self.endpoint, &q, rows, self.timeouts)?;
        let mut body = self.check(r)?;
        // Drain, so the server sees the exchange through.
        while let Ok(b) = body.fill_buf() {
            if b.is_empty() {
                break;
            }
            let n = b.len();
            body.consume(n);
        }
        Ok(())
    }
}

/// A string as a ClickHouse SQL literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_and_classes() {
        let m = "Code: 27, e.displayText() = DB::Exception: Cannot parse input";
        assert_eq!(error_code(m), 27);
        assert_eq!(error_code("no code"), 0);
        let e = |code| ChError::Server {
            server: "s".into(),
            status: 500,
            code,
            message: String::new(),
        };
        assert!(e(27).is_data_error());
        assert!(
            !e(60).is_data_error(),
            "unknown table is the server's problem"
        );
        assert!(!e(252).is_data_error(), "too many parts: retry later");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a'b\\c"), "'a\\'b\\\\c'");
    }
}
