//! Server-sent events (the WHATWG `text/event-stream` format) as OpenAI-compatible servers
//! stream chat completions: parsing bytes as they arrive, and writing events back.
//!
//! Parsing follows the specification's rules: lines end in `\n`, `\r\n` or a lone `\r` (a
//! `\r\n` cut between two network chunks counts once); a blank line dispatches the event;
//! `data:` lines are joined with `\n`; one space after the colon is dropped; lines starting
//! with `:` are comments; an event with no data is not dispatched; a partial event at the end
//! of the stream is dropped. An event is bounded ([`SseParser::new`]) so a server cannot make
//! the parser hold an endless line.

use std::fmt;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; `None` for the default type (`message`), which OpenAI uses.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The `id:` field, if the event had one.
    pub id: Option<String>,
}

impl SseEvent {
    /// A default-type event carrying `data`.
    pub fn data(data: impl Into<String>) -> Self {
        Self {
            event: None,
            data: data.into(),
            id: None,
        }
    }

    /// OpenAI's end-of-stream marker, `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.event.is_none() && self.data.trim() == "[DONE]"
    }

    /// The event in wire form, ending with the blank line that dispatches it. Data with
    /// line breaks becomes one `data:` line per line, so the reader joins it back exactly.
    pub fn to_wire(&self) -> String {
        let mut out = String::with_capacity(self.data.len() + 16);
        if let Some(event) = &self.event {
            push_field(&mut out, "event", event);
        }
        if let Some(id) = &self.id {
            push_field(&mut out, "id", id);
        }
        for line in split_lines(&self.data) {
            push_field(&mut out, "data", line);
        }
        out.push('\n');
        out
    }
}

fn push_field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push('\n');
}

/// Lines as the reader will split them: on `\r\n`, `\n` or `\r`; one empty line for empty
/// data.
fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    loop {
        match rest.find(['\r', '\n']) {
            None => {
                lines.push(rest);
                return lines;
            }
            Some(at) => {
                lines.push(&rest[..at]);
                let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[at + skip..];
            }
        }
    }
}

/// Why a stream could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// One event (or one line) grew past the limit.
    EventTooLarge { limit: usize },
    /// An event's text is not UTF-8.
    NotUtf8,
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::EventTooLarge { limit } => {
                write!(f, "a streamed event is larger than {limit} bytes")
            }
            SseError::NotUtf8 => f.write_str("a streamed event is not UTF-8"),
        }
    }
}

impl std::error::Error for SseError {}

/// An incremental parser: feed it network chunks, take the events they complete.
#[derive(Debug, Clone)]
pub struct SseParser {
    /// Bytes of the current, unterminated line.
    line: Vec<u8>,
    /// The event being assembled.
    event: Option<String>,
    data: Vec<u8>,
    has_data: bool,
    id: Option<String>,
    /// The previous chunk ended with `\r`: a `\n` starting this one belongs to it.
    after_cr: bool,
    max_event_bytes: usize,
    /// Bytes of the current event so far (its lines and the pending one).
    event_bytes: usize,
}

impl SseParser {
    /// A parser refusing any event longer than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            line: Vec::new(),
            event: None,
            data: Vec::new(),
            has_data: false,
            id: None,
            after_cr: false,
            max_event_bytes,
            event_bytes: 0,
        }
    }

    /// Parses `chunk`; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut events = Vec::new();
        let mut bytes = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while let Some(at) = bytes.iter().position(|b| *b == b'\n' || *b == b'\r') {
            self.grow(at)?;
            self.line.extend_from_slice(&bytes[..at]);
            let crlf = bytes[at] == b'\r';
            bytes = &bytes[at + 1..];
            if crlf {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.take_line(&line)? {
                events.push(event);
            }
        }
        self.grow(bytes.len())?;
        self.line.extend_from_slice(bytes);
        Ok(events)
    }

    fn grow(&mut self, by: usize) -> Result<(), SseError> {
        self.event_bytes = self.event_bytes.saturating_add(by);
        if self.event_bytes > self.max_event_bytes {
            return Err(SseError::EventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        Ok(())
    }

    /// One complete line: a field, a comment, or the blank line that dispatches.
    fn take_line(&mut self, line: &[u8]) -> Result<Option<SseEvent>, SseError> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(b":") {
            return Ok(None);
        }
        let (name, value) = match line.iter().position(|b| *b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(utf8(value)?),
            // An id with a NUL is ignored, as the specification says.
            b"id" if !value.contains(&0) => self.id = Some(utf8(value)?),
            // `retry` and unknown fields are ignored.
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Result<Option<SseEvent>, SseError> {
        self.event_bytes = 0;
        let event = self.event.take();
        let id = self.id.take();
        if !std::mem::take(&mut self.has_data) {
            self.data.clear();
            return Ok(None);
        }
        let data =
            String::from_utf8(std::mem::take(&mut self.data)).map_err(|_| SseError::NotUtf8)?;
        let event = event.filter(|name| !name.is_empty() && name != "message");
        Ok(Some(SseEvent { event, data, id }))
    }
}

fn utf8(bytes: &[u8]) -> Result<String, SseError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| SseError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new(1 << 20);
        chunks
            .iter()
            .flat_map(|chunk| parser.push(chunk).unwrap())
            .collect()
    }

    #[test]
    fn events_end_at_blank_lines_with_any_line_ending() {
        let wire = b"data: {\"a\":1}\n\ndata: two\r\n\r\ndata: three\r\rdata: [DONE]\n\n";
        let events = parse_all(&[wire]);
        let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["{\"a\":1}", "two", "three", "[DONE]"]);
        assert!(events[3].is_done());
    }

    #[test]
    fn comments_fields_and_multi_line_data() {
        let wire = b": keep-alive\nevent: error\nid: 7\ndata: first\ndata:second\nretry: 10\n\n";
        let events = parse_all(&[wire]);
        assert_eq!(
            events,
            [SseEvent {
                event: Some("error".into()),
                data: "first\nsecond".into(),
                id: Some("7".into()),
            }]
        );
        // A comment alone, or an event without data, dispatches nothing.
        assert!(parse_all(&[b": ping\n\nevent: x\n\n"]).is_empty());
        // A partial event at the end of the stream is dropped.
        assert!(parse_all(&[b"data: cut"]).is_empty());
    }

    #[test]
    fn every_split_of_the_bytes_gives_the_same_events() {
        let wire: &[u8] =
            b"data: {\"x\":\"h\xc3\xa9\"}\r\n\r\n: c\ndata: a\ndata: b\r\rdata: [DONE]\r\n\r\n";
        let whole = parse_all(&[wire]);
        assert_eq!(whole.len(), 3);
        for cut in 0..=wire.len() {
            assert_eq!(
                parse_all(&[&wire[..cut], &wire[cut..]]),
                whole,
                "cut at {cut}"
            );
        }
        // And byte by byte.
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(parse_all(&bytes), whole);
    }

    #[test]
    fn an_oversized_event_is_refused() {
        let mut parser = SseParser::new(16);
        assert_eq!(
            parser.push(b"data: 0123456789abcdef\n"),
            Err(SseError::EventTooLarge { limit: 16 })
        );
        let mut parser = SseParser::new(16);
        assert!(parser.push(b"data: 0123456789").is_ok());
        assert!(parser.push(b"abcdef").is_err());
    }

    #[test]
    fn written_events_parse_back_to_themselves() {
        for event in [
            SseEvent::data("{\"choices\":[]}"),
            SseEvent::data("line one\nline two\r\nline three"),
            SseEvent::data(""),
            SseEvent {
                event: Some("error".into()),
                data: "{}".into(),
                id: Some("3".into()),
            },
        ] {
            let wire = event.to_wire();
            let mut expected = event.clone();
            expected.data = expected.data.replace("\r\n", "\n");
            assert_eq!(parse_all(&[wire.as_bytes()]), [expected], "{wire:?}");
        }
        assert_eq!(SseEvent::data("[DONE]").to_wire(), "data: [DONE]\n\n");
    }
}
