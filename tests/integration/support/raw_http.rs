//! HTTP/1.1 by hand over a `TcpStream`, for requests a client library would refuse to send
//! (raw bytes in a path, thousands of headers) and for pacing bytes on the wire.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer read off the wire.
#[derive(Debug)]
pub(crate) struct RawAnswer {
    pub(crate) status: u16,
    /// The head, lower-cased.
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl RawAnswer {
    /// Parses what a connection carried until it closed.
    pub(crate) fn parse(bytes: &[u8]) -> RawAnswer {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no whole head in {text:?}"));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        RawAnswer {
            status,
            head: head.to_ascii_lowercase(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// The value of header `name` (lower case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim())
        })
    }

    /// Asserts the JSON error shape with this status and code.
    pub(crate) fn assert_json_error(&self, status: u16, code: &str, context: &str) {
        assert_eq!(self.status, status, "{context}: {}", self.head);
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{context}: {}",
            self.head
        );
        let body: Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{context}: the body is not JSON ({e})"));
        assert_eq!(body["success"], false, "{context}: {body}");
        assert_eq!(body["error"]["code"], code, "{context}: {body}");
        assert!(body["error"]["message"].is_string(), "{context}: {body}");
    }
}

/// Everything the peer sends until it closes (a reset after some bytes ends it too), within
/// `bound`.
pub(crate) async fn read_until_closed(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    bound: Duration,
) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(bound, read)
        .await
        .expect("the server closes the connection in time");
    bytes
}

/// Sends `request` as is on a new connection and reads the answer until the server closes.
pub(crate) async fn exchange(address: SocketAddr, request: &[u8]) -> RawAnswer {
    let mut stream = TcpStream::connect(address).await.expect("connects");
    stream.write_all(request).await.expect("writes");
    RawAnswer::parse(&read_until_closed(&mut stream, Duration::from_secs(10)).await)
}

/// `GET target` with `headers` (each `Name: value`), asking the server to close.
pub(crate) fn get(target: &str, headers: &[String]) -> Vec<u8> {
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.into_bytes()
}
