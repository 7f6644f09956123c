use super::*;
use crate::proto::hex;

const MAX: usize = 32768;

/// Feeds `input` in chunks of `chunk` bytes (the last may be shorter), calling `push` until each
/// chunk is used up, and collects every frame.
fn frames_chunked(reader: &mut FrameReader, input: &[u8], chunk: usize) -> Vec<Frame> {
    let mut frames = Vec::new();
    for piece in input.chunks(chunk) {
        let mut rest = piece;
        loop {
            let (used, frame) = reader.push(rest);
            assert!(used <= rest.len());
            rest = &rest[used..];
            match frame {
                Some(f) => frames.push(f),
                // Without a frame, push must have used everything it was given.
                None => {
                    assert!(rest.is_empty());
                    break;
                }
            }
            if rest.is_empty() {
                break;
            }
        }
    }
    frames
}

fn frames(input: &[u8], chunk: usize) -> Vec<Frame> {
    frames_chunked(&mut FrameReader::new(MAX), input, chunk)
}

fn echo(seq: u32) -> Vec<u8> {
    let mut m = hex("0008 00000008 0000 0004");
    m.extend_from_slice(&seq.to_be_bytes());
    m
}

/// A stream mixing good messages, skipped ones and the quirks, with what it must yield.
fn mixed_stream() -> (Vec<u8>, Vec<Frame>) {
    let mut input = Vec::new();
    let mut want = Vec::new();
    let preinit = hex("0000 00000015 0000 0004 00000001 0001 0009 71 69 63 6c 75 73 74 65 72");
    input.extend_from_slice(&preinit);
    want.push(Frame::Message(preinit));
    // Unsupported type 99 with a body.
    input.extend_from_slice(&hex("0063 00000003 aabbcc"));
    want.push(Frame::Skipped(ReplyError::UnsupportedMessage));
    input.extend_from_slice(&echo(1));
    want.push(Frame::Message(echo(1)));
    // Unsupported type with length 0: upstream's SERVER_ERROR{NO_ERROR}.
    input.extend_from_slice(&hex("ffff 00000000"));
    want.push(Frame::Skipped(ReplyError::NoError));
    // Supported type, empty payload: delivered (the decoder rejects it).
    input.extend_from_slice(&hex("0000 00000000"));
    want.push(Frame::Message(hex("0000 00000000")));
    // Too long: 6 + 32763 > 32768.
    input.extend_from_slice(&hex("0008 00007ffb"));
    input.extend(std::iter::repeat_n(0x5a, 0x7ffb));
    want.push(Frame::Skipped(ReplyError::MessageTooLong));
    // Exactly at the limit: 6 + 32762 = 32768 is kept.
    let mut limit = hex("0001 00007ffa");
    limit.extend(std::iter::repeat_n(0xa5, 0x7ffa));
    input.extend_from_slice(&limit);
    want.push(Frame::Message(limit));
    input.extend_from_slice(&echo(2));
    want.push(Frame::Message(echo(2)));
    (input, want)
}

#[test]
fn many_frames_in_one_buffer() {
    let (input, want) = mixed_stream();
    assert_eq!(frames(&input, input.len()), want);
}

#[test]
fn any_chunking_gives_the_same_frames() {
    let (input, want) = mixed_stream();
    for chunk in [1, 2, 3, 5, 6, 7, 13, 4096, 32769] {
        assert_eq!(frames(&input, chunk), want, "chunk {chunk}");
    }
}

#[test]
fn split_at_every_byte_boundary() {
    let mut input = hex("0000 00000015 0000 0004 00000001 0001 0009 71 69 63 6c 75 73 74 65 72");
    input.extend_from_slice(&hex("0063 00000002 0102"));
    input.extend_from_slice(&echo(3));
    let want = frames(&input, input.len());
    assert_eq!(want.len(), 3);
    for split in 0..=input.len() {
        let mut reader = FrameReader::new(MAX);
        let mut got = frames_chunked(&mut reader, &input[..split], input.len());
        got.extend(frames_chunked(&mut reader, &input[split..], input.len()));
        assert_eq!(got, want, "split at {split}");
        assert!(reader.at_boundary());
    }
}

#[test]
fn one_frame_per_push_and_the_rest_is_left_alone() {
    // STARTTLS followed by bytes that belong to TLS: push must stop right after the frame.
    let mut input = hex("0002 00000008 0000 0004 00000002");
    input.extend_from_slice(&[0x16, 0x03, 0x01, 0x00, 0xa5]);
    let mut reader = FrameReader::new(MAX);
    let (used, frame) = reader.push(&input);
    assert_eq!(used, 14);
    assert_eq!(
        frame,
        Some(Frame::Message(hex("0002 00000008 0000 0004 00000002")))
    );
    assert!(reader.at_boundary());
    assert_eq!(reader.push(&[]), (0, None));
}

#[test]
fn huge_declared_length_is_skipped_without_buffering() {
    let mut reader = FrameReader::new(MAX);
    let (used, frame) = reader.push(&hex("0003 ffffffff"));
    assert_eq!((used, frame), (6, None));
    let junk = vec![0u8; 1 << 20];
    let mut left: u64 = 0xffff_ffff;
    while left > 0 {
        let n = junk.len().min(left as usize);
        let (used, frame) = reader.push(&junk[..n]);
        assert_eq!(used, n);
        assert!(reader.buffered() <= HEADER_LEN);
        left -= n as u64;
        if left == 0 {
            assert_eq!(frame, Some(Frame::Skipped(ReplyError::MessageTooLong)));
        } else {
            assert_eq!(frame, None);
        }
    }
    assert!(reader.at_boundary());
    let (used, frame) = reader.push(&echo(4));
    assert_eq!((used, frame), (14, Some(Frame::Message(echo(4)))));
}

#[test]
fn unsupported_type_is_checked_before_length() {
    // Both bad: the type wins (upstream checks it first).
    let mut input = hex("0012 00010000");
    input.extend(std::iter::repeat_n(0, 0x10000));
    assert_eq!(
        frames(&input, 1000),
        vec![Frame::Skipped(ReplyError::UnsupportedMessage)]
    );
}

#[test]
fn every_supported_type_passes_and_others_are_skipped() {
    for t in 0u16..=40 {
        let mut input = t.to_be_bytes().to_vec();
        input.extend_from_slice(&hex("00000002 abcd"));
        let got = frames(&input, 1);
        let want = if t <= 17 {
            Frame::Message(input.clone())
        } else {
            Frame::Skipped(ReplyError::UnsupportedMessage)
        };
        assert_eq!(got, vec![want], "type {t}");
    }
}

#[test]
fn tiny_limits_are_raised_to_the_header_size() {
    let mut reader = FrameReader::new(0);
    assert_eq!(
        frames_chunked(&mut reader, &hex("0000 00000000 0000 00000001 00"), 1),
        vec![
            Frame::Message(hex("0000 00000000")),
            Frame::Skipped(ReplyError::MessageTooLong)
        ]
    );
}

#[test]
fn buffered_never_exceeds_the_limit() {
    let (input, _) = mixed_stream();
    let mut reader = FrameReader::new(MAX);
    for b in input.chunks(1) {
        let _ = reader.push(b);
        assert!(reader.buffered() <= MAX);
    }
}
