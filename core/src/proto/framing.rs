//! Splitting a client's byte stream into messages (docs/protocol.md, "Framing"; upstream `msgio_read`).
//!
//! The header is validated as soon as its 6 bytes are in. A message with a type outside 0..=17,
//! or one longer than the receive limit, is *skipped*: its payload is read and thrown away (never
//! buffered, so a 4 GB length costs nothing) to keep the stream in sync, and the caller answers
//! SERVER_ERROR with the reason.

use super::codec::{raw_payload_len, raw_type, HEADER_LEN};
use super::types::{MsgType, ReplyError};

/// One complete unit read from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole message, header included, ready for [`super::codec::decode`].
    Message(Vec<u8>),
    /// A message whose payload was discarded; reply SERVER_ERROR{REPLY_ERROR_CODE=reason}
    /// without SEQ. Does not count as activity for dead-peer detection.
    Skipped(ReplyError),
}

/// Incremental framer for one connection.
#[derive(Debug)]
pub struct FrameReader {
    max_receive_size: usize,
    /// Header bytes, then (unless skipping) the payload of the message being read.
    buf: Vec<u8>,
    /// Payload bytes still to come once the header is complete.
    remaining: u64,
    /// Set when the current message is being skipped, with the reason to report.
    skip: Option<ReplyError>,
}

impl FrameReader {
    /// `max_receive_size` bounds a whole message (header included), like upstream's
    /// `max_client_receive_size`. Values below the header size are raised to it (upstream's
    /// configuration floor is 16 anyway).
    pub fn new(max_receive_size: usize) -> FrameReader {
        FrameReader {
            max_receive_size: max_receive_size.max(HEADER_LEN),
            buf: Vec::with_capacity(HEADER_LEN),
            remaining: 0,
            skip: None,
        }
    }

    /// Bytes currently held for the message being read (never more than the receive limit).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True between messages: nothing of a next message has been read yet. After a STARTTLS
    /// frame the reader is always at a boundary, so the bytes after it belong to TLS.
    pub fn at_boundary(&self) -> bool {
        self.buf.is_empty()
    }

    /// Consumes bytes from `input` up to and including at most one completed frame. Returns how
    /// many bytes were consumed and the frame, if one completed; call again with the rest.
    pub fn push(&mut self, input: &[u8]) -> (usize, Option<Frame>) {
        let mut consumed = 0;
        if self.buf.len() < HEADER_LEN {
            let take = (HEADER_LEN - self.buf.len()).min(input.len());
            self.buf.extend_from_slice(&input[..take]);
            consumed = take;
            if self.buf.len() < HEADER_LEN {
                return (consumed, None);
            }
            self.start_message();
            if self.remaining == 0 {
                return (consumed, Some(self.finish()));
            }
        }
        let rest = &input[consumed..];
        let take = usize::try_from(self.remaining).map_or(rest.len(), |r| r.min(rest.len()));
        if self.skip.is_none() {
            self.buf.extend_from_slice(&rest[..take]);
        }
        self.remaining -= take as u64;
        consumed += take;
        let frame = (self.remaining == 0).then(|| self.finish());
        (consumed, frame)
    }

    /// The header just completed: decide whether to keep or skip the payload.
    fn start_message(&mut self) {
        let msg_type = raw_type(&self.buf).unwrap_or(u16::MAX);
        let len = raw_payload_len(&self.buf).unwrap_or(0);
        self.remaining = u64::from(len);
        let total = HEADER_LEN as u64 + u64::from(len);
        if MsgType::from_u16(msg_type).is_none() {
            // Upstream quirk: with length 0 the "message complete" branch runs in the same read
            // and the skip reason is never recorded, so the reply is SERVER_ERROR{NO_ERROR}.
            self.skip = Some(if len == 0 {
                ReplyError::NoError
            } else {
                ReplyError::UnsupportedMessage
            });
        } else if total > self.max_receive_size as u64 {
            self.skip = Some(ReplyError::MessageTooLong);
        } else {
            // total <= max_receive_size: reserve exactly, so capacity never exceeds the limit.
            self.buf.reserve_exact(len as usize);
        }
    }

    /// The current message is complete: hand it out and reset for the next one.
    fn finish(&mut self) -> Frame {
        let frame = match self.skip.take() {
            Some(reason) => {
                self.buf.clear();
                Frame::Skipped(reason)
            }
            None => Frame::Message(std::mem::replace(
                &mut self.buf,
                Vec::with_capacity(HEADER_LEN),
            )),
        };
        self.remaining = 0;
        frame
    }
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
