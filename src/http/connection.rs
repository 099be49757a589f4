//! One connection's socket as hyper sees it, with hyper's own error answers made JSON.
//!
//! hyper answers a request it cannot parse by itself, before any service runs: 400 for bad
//! syntax, 414 for a target over its fixed limit, 431 for too many or too large headers
//! (hyper 1.x, `proto/h1/role.rs`, `Server::on_error`), each with an empty body and no hook
//! to change it. Those answers are the only bodiless 400, 414 or 431 this server writes
//! (every other refusal is an `ApiError` with a JSON body), so this wrapper recognizes them as
//! they are written and writes the JSON answer of the same status instead. hyper closes the
//! connection after such an answer; nothing is written after it. The wrapper never looks at
//! anything else it carries.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::error::ApiError;

/// A socket whose hyper parse-error answers are replaced by JSON ones.
#[derive(Debug)]
pub(crate) struct JsonParseErrors<IO> {
    io: IO,
    /// The replacement being written, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<IO> JsonParseErrors<IO> {
    pub(crate) fn new(io: IO) -> Self {
        Self {
            io,
            replacement: None,
        }
    }
}

/// The JSON answer that replaces `head` when `head` is one of hyper's parse-error answers:
/// a whole HTTP/1.1 head of status 400, 414 or 431 with `content-length: 0` and nothing after.
fn replacement_for(head: &[u8]) -> Option<Vec<u8>> {
    let status = head.strip_prefix(b"HTTP/1.1 ")?.get(..4)?;
    let error = match status {
        b"400 " => ApiError::MalformedRequest,
        b"414 " => ApiError::UrlTooLong,
        b"431 " => ApiError::HeadersTooLarge,
        _ => return None,
    };
    let text = std::str::from_utf8(head).ok()?;
    let (fields, rest) = text.split_once("\r\n\r\n")?;
    let empty = fields
        .split("\r\n")
        .any(|line| line.eq_ignore_ascii_case("content-length: 0"));
    (empty && rest.is_empty()).then(|| error.http1_bytes())
}

impl<IO: AsyncWrite + Unpin> JsonParseErrors<IO> {
    /// Writes what is left of the replacement, if any.
    fn poll_replacement(&mut self, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                self.replacement = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(context, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` as written when it is a parse-error answer, starting its replacement.
    fn replaced(&mut self, context: &mut Context<'_>, buf: &[u8]) -> Option<io::Result<usize>> {
        let replacement = replacement_for(buf)?;
        self.replacement = Some((replacement, 0));
        // hyper's bytes count as written; the replacement goes out now or on the next write,
        // flush or shutdown.
        match self.poll_replacement(context) {
            Poll::Ready(Err(error)) => Some(Err(error)),
            _ => Some(Ok(buf.len())),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for JsonParseErrors<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(context, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_replacement(context))?;
        if let Some(result) = self.replaced(context, buf) {
            return Poll::Ready(result);
        }
        Pin::new(&mut self.io).poll_write(context, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_replacement(context))?;
        let mut filled = bufs.iter().filter(|buf| !buf.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next())
            && let Some(result) = self.replaced(context, only)
        {
            return Poll::Ready(result);
        }
        Pin::new(&mut self.io).poll_write_vectored(context, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(context))?;
        Pin::new(&mut self.io).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(context))?;
        Pin::new(&mut self.io).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bodiless_parse_error_answers_are_replaced() {
        let hyper =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let replaced = String::from_utf8(replacement_for(hyper).expect("replaced")).expect("text");
        assert!(replaced.starts_with("HTTP/1.1 431 "), "{replaced}");
        assert!(
            replaced.contains("\"code\":\"headers_too_large\""),
            "{replaced}"
        );
        for kept in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 51\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}",
            b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n",
            b"{\"success\": false}",
        ] {
            assert!(
                replacement_for(kept).is_none(),
                "{}",
                String::from_utf8_lossy(kept)
            );
        }
    }

    #[tokio::test]
    async fn a_replaced_answer_reaches_the_socket_whole() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (ours, mut theirs) = tokio::io::duplex(16);
        let mut socket = JsonParseErrors::new(ours);
        let writer = tokio::spawn(async move {
            socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await
                .expect("writes");
            socket.shutdown().await.expect("shuts down");
        });
        let mut answer = String::new();
        theirs.read_to_string(&mut answer).await.expect("reads");
        writer.await.expect("the writer ends");
        assert_eq!(answer.as_bytes(), ApiError::MalformedRequest.http1_bytes());
    }
}
