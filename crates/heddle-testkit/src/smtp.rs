//! An SMTP server without TLS, written from RFC 5321 (with RFC 4954 AUTH, RFC 4616 PLAIN and
//! the LOGIN mechanism), enough for an SMTP client to deliver to it:
//!
//! - `220` greeting; `EHLO` (multi-line `250` advertising `8BITMIME`, `SIZE`,
//!   `ENHANCEDSTATUSCODES` and `AUTH PLAIN LOGIN`) or `HELO`;
//! - `AUTH PLAIN` (initial response or `334` challenge) and `AUTH LOGIN`: the username is
//!   recorded and, unless the fake was started with credentials, any password is accepted;
//! - `MAIL FROM:<…>`, `RCPT TO:<…>`, `DATA` (`354`, read up to `CRLF.CRLF`, dot-stuffing
//!   undone per §4.5.2), `RSET`, `NOOP`, `VRFY`, `HELP`, `QUIT` (`221`);
//! - replies carry RFC 3463 enhanced status codes.
//!
//! Stricter than many real servers, to catch client bugs: commands out of sequence get `503`,
//! `MAIL`/`RCPT` paths must follow the colon directly in angle brackets, a bare CR or LF
//! anywhere (a header-injection or SMTP-smuggling symptom) is refused, as is a text line over
//! 1000 octets (§4.5.3.1.6). `STARTTLS` is not offered.
//!
//! Each accepted message is kept as a [`ReceivedMail`]; [`FakeSmtp::reject_next_rcpt`] makes
//! the next `RCPT` fail with a chosen reply, and [`FakeSmtp::set_silent`] makes new
//! connections get no greeting at all (for client timeouts).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// The name the fake gives itself in its greeting and EHLO reply.
const SERVER_NAME: &str = "fake-smtp.heddle.test";
/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF. RFC 4954 §4
/// allows `AUTH` lines (initial responses) up to 12288.
const MAX_COMMAND_LINE: usize = 512;
const MAX_AUTH_LINE: usize = 12_288;
/// RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets with its CRLF.
const MAX_TEXT_LINE: usize = 1000;
/// Advertised with `SIZE`; bigger messages are answered `552`.
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted; more get `452`.
const MAX_RECIPIENTS: usize = 100;
/// A connection that sends nothing for this long is closed with `421`.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One message the fake accepted: the envelope and the data exactly as received, after
/// dot-stuffing was undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The argument of `EHLO`/`HELO`.
    pub client_name: String,
    /// The username of a successful `AUTH`, if any.
    pub authenticated_as: Option<String>,
    /// The `MAIL FROM` path without angle brackets; empty for the null path `<>`.
    pub mail_from: String,
    /// The `RCPT TO` paths the fake accepted, in order.
    pub recipients: Vec<String>,
    /// The message (headers, blank line, body) with CRLF line endings, without the final
    /// `.` line.
    pub data: Vec<u8>,
}

impl ReceivedMail {
    pub fn data_text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The first header called `name` (case-insensitive), unfolded (RFC 5322 §2.2.3) and
    /// trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = self.data_text();
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = found.as_mut() {
                    value.push_str(line);
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((field, value)) = line.split_once(':')
                && field.trim().eq_ignore_ascii_case(name)
            {
                found = Some(value.to_owned());
            }
        }
        found.map(|value| value.trim().to_owned())
    }

    /// Everything after the blank line that ends the headers.
    pub fn body(&self) -> String {
        let text = self.data_text();
        text.split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default()
    }
}

/// An SMTP server on `127.0.0.1` at a free port; stops when dropped.
#[derive(Debug)]
pub struct FakeSmtp {
    addr: SocketAddr,
    state: Arc<SmtpState>,
    accept_task: JoinHandle<()>,
}

#[derive(Debug)]
struct SmtpState {
    /// When set, `AUTH` must present exactly these and `MAIL` needs a successful `AUTH`.
    credentials: Option<(String, String)>,
    shared: Mutex<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    messages: Vec<ReceivedMail>,
    reject_next_rcpt: Option<(u16, String)>,
    silent: bool,
    connections: usize,
}

impl SmtpState {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A test that panicked while holding the lock has failed already; keep going.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FakeSmtp {
    /// A server that accepts any `AUTH` (or none).
    pub async fn start() -> io::Result<Self> {
        Self::spawn(None).await
    }

    /// A server that requires `AUTH` with exactly these credentials before `MAIL`: others get
    /// `535 5.7.8`, and `MAIL` without authentication gets `530 5.7.0`.
    pub async fn start_with_credentials(username: &str, password: &str) -> io::Result<Self> {
        Self::spawn(Some((username.to_owned(), password.to_owned()))).await
    }

    async fn spawn(credentials: Option<(String, String)>) -> io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SmtpState {
            credentials,
            shared: Mutex::new(Shared::default()),
        });
        let accept_task = tokio::spawn(accept_connections(listener, Arc::clone(&state)));
        Ok(Self {
            addr,
            state,
            accept_task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.state.lock().messages.clone()
    }

    /// How many TCP connections were accepted so far (to prove a client never connected).
    pub fn connections(&self) -> usize {
        self.state.lock().connections
    }

    /// The next `RCPT TO` (on any connection) is answered `code text` and its recipient is
    /// not added; later ones are accepted again. `code` should be 4xx or 5xx, e.g.
    /// `550, "5.1.1 No such user"`.
    pub fn reject_next_rcpt(&self, code: u16, text: &str) {
        self.state.lock().reject_next_rcpt = Some((code, text.to_owned()));
    }

    /// While silent, new connections are accepted but get no greeting and no reply.
    pub fn set_silent(&self, silent: bool) {
        self.state.lock().silent = silent;
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        // Dropping the accept task drops its JoinSet, which aborts every open connection.
        self.accept_task.abort();
    }
}

async fn accept_connections(listener: TcpListener, state: Arc<SmtpState>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let silent = {
                        let mut shared = state.lock();
                        shared.connections += 1;
                        shared.silent
                    };
                    connections.spawn(serve_connection(stream, Arc::clone(&state), silent));
                }
                // Out of file descriptors or similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_finished) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<SmtpState>, silent: bool) {
    let (read, write) = stream.into_split();
    let mut connection = Connection {
        reader: BufReader::new(read),
        writer: write,
        state,
        session: Session::default(),
    };
    if silent {
        connection.stay_silent().await;
        return;
    }
    // An I/O error means the client went away; there is nobody left to tell.
    let _ = connection.converse().await;
}

/// Where one connection is in RFC 5321's sequence.
#[derive(Debug, Default)]
struct Session {
    client_name: Option<String>,
    extended: bool,
    authenticated_as: Option<String>,
    mail_from: Option<String>,
    recipients: Vec<String>,
}

impl Session {
    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.recipients.clear();
    }
}

/// One line as read, classified.
enum Line {
    /// Ended by CRLF with no other CR or LF inside; the text without its CRLF.
    Text(Vec<u8>),
    /// Ended by a bare LF, or holding a bare CR.
    BareLineBreak,
    /// Longer than the limit; the rest of it was consumed.
    TooLong,
}

struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    state: Arc<SmtpState>,
    session: Session,
}

impl Connection {
    async fn stay_silent(&mut self) {
        let mut sink = [0u8; 1024];
        while let Ok(Ok(read)) =
            tokio::time::timeout(IDLE_TIMEOUT, self.reader.read(&mut sink)).await
        {
            if read == 0 {
                break;
            }
        }
    }

    async fn converse(&mut self) -> io::Result<()> {
        self.reply(220, &format!("{SERVER_NAME} ESMTP Heddle FakeSmtp ready"))
            .await?;
        loop {
            let Some(line) = self.read_line(MAX_AUTH_LINE).await? else {
                return Ok(());
            };
            let text = match line {
                Line::Text(text) => text,
                Line::BareLineBreak => {
                    self.reply(500, "5.5.2 Bare CR or LF in command; lines end with CRLF")
                        .await?;
                    continue;
                }
                Line::TooLong => {
                    self.reply(500, "5.5.2 Line too long").await?;
                    continue;
                }
            };
            let Ok(text) = String::from_utf8(text) else {
                self.reply(500, "5.5.2 Command is not valid UTF-8").await?;
                continue;
            };
            let (verb, argument) = match text.split_once(' ') {
                Some((verb, argument)) => (verb.to_ascii_uppercase(), argument.trim().to_owned()),
                None => (text.to_ascii_uppercase(), String::new()),
            };
            if verb != "AUTH" && text.len() + 2 > MAX_COMMAND_LINE {
                self.reply(500, "5.5.2 Line too long").await?;
                continue;
            }
            match verb.as_str() {
                "EHLO" | "HELO" => self.hello(&verb, &argument).await?,
                "AUTH" => self.auth(&argument).await?,
                "MAIL" => self.mail(&argument).await?,
                "RCPT" => self.rcpt(&argument).await?,
                "DATA" => self.data(&argument).await?,
                "RSET" => {
                    self.session.reset_transaction();
                    self.reply(250, "2.0.0 Ok").await?;
                }
                "NOOP" => self.reply(250, "2.0.0 Ok").await?,
                "VRFY" => {
                    self.reply(
                        252,
                        "2.5.0 Cannot VRFY user, but will accept message and attempt delivery",
                    )
                    .await?;
                }
                "HELP" => {
                    self.reply(
                        214,
                        "2.0.0 Commands: EHLO HELO AUTH MAIL RCPT DATA RSET NOOP VRFY HELP QUIT",
                    )
                    .await?;
                }
                "QUIT" => {
                    self.reply(221, &format!("2.0.0 {SERVER_NAME} closing connection"))
                        .await?;
                    return Ok(());
                }
                "STARTTLS" => {
                    self.reply(502, "5.5.1 STARTTLS is not offered by this server")
                        .await?;
                }
                "EXPN" | "TURN" | "ETRN" | "BDAT" => {
                    self.reply(502, "5.5.1 Command not implemented").await?;
                }
                _ => self.reply(500, "5.5.2 Command unrecognized").await?,
            }
        }
    }

    async fn hello(&mut self, verb: &str, argument: &str) -> io::Result<()> {
        if argument.is_empty() || argument.contains(' ') {
            return self
                .reply(501, &format!("5.5.4 Syntax: {verb} domain"))
                .await;
        }
        // §4.1.4: EHLO/HELO in the middle of a session also clears the transaction.
        self.session.reset_transaction();
        self.session.client_name = Some(argument.to_owned());
        self.session.extended = verb == "EHLO";
        let greeting = format!("{SERVER_NAME} greets {argument}");
        if verb == "HELO" {
            return self.reply(250, &greeting).await;
        }
        let size = format!("SIZE {MAX_MESSAGE_BYTES}");
        self.reply_lines(
            250,
            &[
                &greeting,
                "8BITMIME",
                &size,
                "ENHANCEDSTATUSCODES",
                "AUTH PLAIN LOGIN",
            ],
        )
        .await
    }

    async fn auth(&mut self, argument: &str) -> io::Result<()> {
        if !self.session.extended {
            return self.reply(503, "5.5.1 Send EHLO first").await;
        }
        if self.session.authenticated_as.is_some() {
            return self.reply(503, "5.5.1 Already authenticated").await;
        }
        if self.session.mail_from.is_some() {
            return self
                .reply(503, "5.5.1 AUTH is not permitted during a mail transaction")
                .await;
        }
        let mut words = argument.split(' ').filter(|word| !word.is_empty());
        let mechanism = words.next().unwrap_or_default().to_ascii_uppercase();
        let initial = words.next().map(str::to_owned);
        if words.next().is_some() {
            return self
                .reply(501, "5.5.4 Syntax: AUTH mechanism [initial-response]")
                .await;
        }
        let credentials = match mechanism.as_str() {
            "PLAIN" => self.auth_plain(initial).await?,
            "LOGIN" => self.auth_login(initial).await?,
            "" => return self.reply(501, "5.5.4 Syntax: AUTH mechanism").await,
            _ => {
                return self
                    .reply(504, "5.5.4 Unrecognized authentication type")
                    .await;
            }
        };
        let Some((username, password)) = credentials else {
            // The helper already answered (cancelled or undecodable).
            return Ok(());
        };
        if let Some((expected_username, expected_password)) = &self.state.credentials
            && (expected_username != &username || expected_password != &password)
        {
            return self
                .reply(535, "5.7.8 Authentication credentials invalid")
                .await;
        }
        self.session.authenticated_as = Some(username);
        self.reply(235, "2.7.0 Authentication successful").await
    }

    /// RFC 4616: `[authzid] NUL authcid NUL passwd`, base64; `=` is an empty initial
    /// response. `None` when the exchange already ended with an error reply.
    async fn auth_plain(
        &mut self,
        initial: Option<String>,
    ) -> io::Result<Option<(String, String)>> {
        let response = match initial {
            Some(initial) => initial,
            None => {
                self.reply(334, "").await?;
                match self.read_auth_response().await? {
                    Some(response) => response,
                    None => return Ok(None),
                }
            }
        };
        let decoded = decode_sasl(&response).and_then(|bytes| {
            let parts: Vec<&[u8]> = bytes.split(|byte| *byte == 0).collect();
            match parts.as_slice() {
                [_authzid, authcid, passwd] if !authcid.is_empty() => Some((
                    String::from_utf8(authcid.to_vec()).ok()?,
                    String::from_utf8(passwd.to_vec()).ok()?,
                )),
                _ => None,
            }
        });
        if decoded.is_none() {
            self.reply(501, "5.5.2 Cannot decode AUTH PLAIN response")
                .await?;
        }
        Ok(decoded)
    }

    /// The LOGIN mechanism: base64 username and password, each after a `334` prompt
    /// (`Username:` / `Password:`); the username may come as an initial response.
    async fn auth_login(
        &mut self,
        initial: Option<String>,
    ) -> io::Result<Option<(String, String)>> {
        let username = match initial {
            Some(initial) => initial,
            None => {
                self.reply(334, "VXNlcm5hbWU6").await?;
                match self.read_auth_response().await? {
                    Some(response) => response,
                    None => return Ok(None),
                }
            }
        };
        self.reply(334, "UGFzc3dvcmQ6").await?;
        let Some(password) = self.read_auth_response().await? else {
            return Ok(None);
        };
        let decoded = (|| {
            Some((
                String::from_utf8(decode_sasl(&username)?).ok()?,
                String::from_utf8(decode_sasl(&password)?).ok()?,
            ))
        })();
        if decoded.is_none() {
            self.reply(501, "5.5.2 Cannot decode AUTH LOGIN response")
                .await?;
        }
        Ok(decoded)
    }

    /// One client line in an AUTH exchange; `*` cancels (RFC 4954 §4). `None` after the
    /// error reply has been sent.
    async fn read_auth_response(&mut self) -> io::Result<Option<String>> {
        let line = self
            .read_line(MAX_AUTH_LINE)
            .await?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let Line::Text(text) = line else {
            self.reply(501, "5.5.2 Malformed AUTH response").await?;
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&text).trim().to_owned();
        if text == "*" {
            self.reply(501, "5.0.0 Authentication cancelled").await?;
            return Ok(None);
        }
        Ok(Some(text))
    }

    async fn mail(&mut self, argument: &str) -> io::Result<()> {
        if self.session.client_name.is_none() {
            return self.reply(503, "5.5.1 Send EHLO or HELO first").await;
        }
        if self.session.mail_from.is_some() {
            return self.reply(503, "5.5.1 Nested MAIL command").await;
        }
        if self.state.credentials.is_some() && self.session.authenticated_as.is_none() {
            return self.reply(530, "5.7.0 Authentication required").await;
        }
        let Some(path) = parse_path(argument, "FROM:") else {
            return self.reply(501, "5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        self.session.mail_from = Some(path);
        self.reply(250, "2.1.0 Ok").await
    }

    async fn rcpt(&mut self, argument: &str) -> io::Result<()> {
        if self.session.mail_from.is_none() {
            return self.reply(503, "5.5.1 Need MAIL before RCPT").await;
        }
        let Some(path) = parse_path(argument, "TO:").filter(|path| !path.is_empty()) else {
            return self.reply(501, "5.5.4 Syntax: RCPT TO:<address>").await;
        };
        if self.session.recipients.len() >= MAX_RECIPIENTS {
            return self.reply(452, "4.5.3 Too many recipients").await;
        }
        let rejection = self.state.lock().reject_next_rcpt.take();
        if let Some((code, text)) = rejection {
            return self.reply(code, &text).await;
        }
        self.session.recipients.push(path);
        self.reply(250, "2.1.5 Ok").await
    }

    async fn data(&mut self, argument: &str) -> io::Result<()> {
        if !argument.is_empty() {
            return self.reply(501, "5.5.4 Syntax: DATA").await;
        }
        let Some(mail_from) = self.session.mail_from.clone() else {
            return self
                .reply(503, "5.5.1 Need MAIL and RCPT before DATA")
                .await;
        };
        if self.session.recipients.is_empty() {
            // §3.3: after MAIL with no accepted RCPT, 554 "no valid recipients".
            return self.reply(554, "5.5.1 No valid recipients").await;
        }
        self.reply(354, "End data with <CR><LF>.<CR><LF>").await?;

        let mut data = Vec::new();
        let mut problem: Option<(u16, &str)> = None;
        loop {
            let mut chunk = Vec::new();
            let read = tokio::time::timeout(
                IDLE_TIMEOUT,
                (&mut self.reader)
                    .take(MAX_TEXT_LINE as u64 + 1)
                    .read_until(b'\n', &mut chunk),
            )
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            if read == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            if !chunk.ends_with(b"\n") {
                // Over 1000 octets: drop the rest of the line, refuse the message at the end.
                problem.get_or_insert((500, "5.5.2 Line too long (over 1000 octets)"));
                self.discard_rest_of_line().await?;
                continue;
            }
            if chunk == b".\r\n" {
                break;
            }
            let line = chunk.strip_suffix(b"\r\n");
            let clean = line.is_some_and(|line| !line.contains(&b'\r') && !line.contains(&b'\n'));
            if !clean {
                problem.get_or_insert((550, "5.5.2 Bare CR or LF in message data"));
                continue;
            }
            // §4.5.2: a line starting with a period had one more period prepended.
            let unstuffed = chunk.strip_prefix(b".").unwrap_or(&chunk);
            if data.len() + unstuffed.len() > MAX_MESSAGE_BYTES {
                problem.get_or_insert((552, "5.3.4 Message size exceeds fixed limit"));
                continue;
            }
            data.extend_from_slice(unstuffed);
        }

        let recipients = std::mem::take(&mut self.session.recipients);
        self.session.reset_transaction();
        if let Some((code, text)) = problem {
            return self.reply(code, text).await;
        }
        let queue_id = {
            let mut shared = self.state.lock();
            shared.messages.push(ReceivedMail {
                client_name: self.session.client_name.clone().unwrap_or_default(),
                authenticated_as: self.session.authenticated_as.clone(),
                mail_from,
                recipients,
                data,
            });
            shared.messages.len()
        };
        self.reply(250, &format!("2.0.0 Ok: queued as {queue_id}"))
            .await
    }

    /// Reads one line, at most `limit` octets with its line break.
    async fn read_line(&mut self, limit: usize) -> io::Result<Option<Line>> {
        let mut raw = Vec::new();
        let read = tokio::time::timeout(
            IDLE_TIMEOUT,
            (&mut self.reader)
                .take(limit as u64)
                .read_until(b'\n', &mut raw),
        )
        .await;
        let read = match read {
            Ok(read) => read?,
            Err(_idle) => {
                self.reply(421, "4.4.2 Idle for too long, closing connection")
                    .await?;
                return Ok(None);
            }
        };
        if read == 0 {
            return Ok(None);
        }
        if !raw.ends_with(b"\n") {
            if raw.len() < limit {
                // The client closed the connection in the middle of a line.
                return Ok(None);
            }
            self.discard_rest_of_line().await?;
            return Ok(Some(Line::TooLong));
        }
        match raw.strip_suffix(b"\r\n") {
            Some(text) if !text.contains(&b'\r') && !text.contains(&b'\n') => {
                Ok(Some(Line::Text(text.to_vec())))
            }
            _ => Ok(Some(Line::BareLineBreak)),
        }
    }

    async fn discard_rest_of_line(&mut self) -> io::Result<()> {
        loop {
            let mut chunk = Vec::new();
            let read = discard_chunk(&mut self.reader, &mut chunk).await?;
            if read == 0 || chunk.ends_with(b"\n") {
                return Ok(());
            }
        }
    }

    async fn reply(&mut self, code: u16, text: &str) -> io::Result<()> {
        self.reply_lines(code, &[text]).await
    }

    /// §4.2: every line but the last is `code-text`, the last `code text`.
    async fn reply_lines(&mut self, code: u16, lines: &[&str]) -> io::Result<()> {
        let mut out = String::new();
        for (index, line) in lines.iter().enumerate() {
            let separator = if index + 1 == lines.len() { ' ' } else { '-' };
            out.push_str(&format!("{code}{separator}{line}\r\n"));
        }
        self.writer.write_all(out.as_bytes()).await?;
        self.writer.flush().await
    }
}

async fn discard_chunk<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    chunk: &mut Vec<u8>,
) -> io::Result<usize> {
    tokio::time::timeout(
        IDLE_TIMEOUT,
        reader.take(64 * 1024).read_until(b'\n', chunk),
    )
    .await
    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

/// `FROM:<path> [params]` / `TO:<path> [params]`, keyword case-insensitive, the path right
/// after the colon (RFC 5321 §4.1.1.2 has no space there). Parameters are accepted and
/// ignored. The path must not contain spaces or angle brackets.
fn parse_path(argument: &str, keyword: &str) -> Option<String> {
    let head = argument.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = argument.get(keyword.len()..)?.strip_prefix('<')?;
    let (path, after) = rest.split_once('>')?;
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    if path.contains([' ', '<', '>']) || (!path.is_empty() && !path.contains('@')) {
        // The only address without `@` RFC 5321 allows is `Postmaster` in RCPT.
        if !path.eq_ignore_ascii_case("postmaster") {
            return None;
        }
    }
    Some(path.to_owned())
}

/// Base64 of a SASL response; `=` stands for an empty response (RFC 4954 §4).
fn decode_sasl(text: &str) -> Option<Vec<u8>> {
    if text == "=" {
        return Some(Vec::new());
    }
    heddle_crypto::base64_decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw SMTP client: writes lines, reads whole (multi-line) replies.
    struct Client {
        reader: BufReader<OwnedReadHalf>,
        writer: OwnedWriteHalf,
    }

    impl Client {
        async fn connect(fake: &FakeSmtp) -> (Self, String) {
            let stream = TcpStream::connect(fake.addr()).await.unwrap();
            let (read, writer) = stream.into_split();
            let mut client = Self {
                reader: BufReader::new(read),
                writer,
            };
            let greeting = client.reply().await;
            (client, greeting)
        }

        async fn send(&mut self, raw: &str) -> String {
            self.writer.write_all(raw.as_bytes()).await.unwrap();
            self.reply().await
        }

        async fn reply(&mut self) -> String {
            let mut all = String::new();
            loop {
                let mut line = String::new();
                self.reader.read_line(&mut line).await.unwrap();
                assert!(line.ends_with("\r\n"), "reply line {line:?}");
                all.push_str(&line);
                if line.as_bytes().get(3) == Some(&b' ') {
                    return all;
                }
            }
        }
    }

    #[tokio::test]
    async fn delivers_with_dot_stuffing_undone_and_plain_auth_recorded() {
        let fake = FakeSmtp::start().await.unwrap();
        let (mut client, greeting) = Client::connect(&fake).await;
        assert!(greeting.starts_with("220 "));
        let ehlo = client.send("EHLO client.example\r\n").await;
        assert!(ehlo.starts_with("250-fake-smtp.heddle.test greets client.example\r\n"));
        assert!(
            ehlo.contains("250-AUTH PLAIN LOGIN\r\n") || ehlo.contains("250 AUTH PLAIN LOGIN\r\n")
        );
        // base64("\0alice\0secret")
        let auth = client.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n").await;
        assert!(auth.starts_with("235 "), "{auth}");
        assert!(
            client
                .send("MAIL FROM:<a@x.example> BODY=8BITMIME\r\n")
                .await
                .starts_with("250 ")
        );
        assert!(
            client
                .send("RCPT TO:<b@y.example>\r\n")
                .await
                .starts_with("250 ")
        );
        assert!(client.send("DATA\r\n").await.starts_with("354 "));
        let done = client
            .send("Subject: hi\r\n\r\n..leading dot\r\nline\r\n.\r\n")
            .await;
        assert!(done.starts_with("250 "), "{done}");
        assert!(client.send("QUIT\r\n").await.starts_with("221 "));

        let messages = fake.messages();
        assert_eq!(messages.len(), 1);
        let message = &messages[0];
        assert_eq!(message.client_name, "client.example");
        assert_eq!(message.authenticated_as.as_deref(), Some("alice"));
        assert_eq!(message.mail_from, "a@x.example");
        assert_eq!(message.recipients, vec!["b@y.example".to_owned()]);
        assert_eq!(message.data, b"Subject: hi\r\n\r\n.leading dot\r\nline\r\n");
        assert_eq!(message.header("subject").as_deref(), Some("hi"));
        assert_eq!(message.body(), ".leading dot\r\nline\r\n");
    }

    #[tokio::test]
    async fn refuses_out_of_sequence_commands_and_bare_line_feeds() {
        let fake = FakeSmtp::start().await.unwrap();
        let (mut client, _) = Client::connect(&fake).await;
        assert!(
            client
                .send("MAIL FROM:<a@x.example>\r\n")
                .await
                .starts_with("503 ")
        );
        assert!(client.send("EHLO c.example\r\n").await.starts_with("250"));
        assert!(
            client
                .send("RCPT TO:<b@y.example>\r\n")
                .await
                .starts_with("503 ")
        );
        assert!(
            client
                .send("MAIL FROM: <a@x.example>\r\n")
                .await
                .starts_with("501 ")
        );
        assert!(
            client
                .send("MAIL FROM:<a@x.example>\r\n")
                .await
                .starts_with("250 ")
        );
        assert!(client.send("DATA\r\n").await.starts_with("554 "));
        assert!(
            client
                .send("RCPT TO:<b@y.example>\r\n")
                .await
                .starts_with("250 ")
        );
        assert!(client.send("NOOP\n").await.starts_with("500 "));
        assert!(client.send("DATA\r\n").await.starts_with("354 "));
        let refused = client
            .send("Subject: x\r\nBcc: evil\n\r\nbody\r\n.\r\n")
            .await;
        assert!(refused.starts_with("550 "), "{refused}");
        assert!(client.send("RSET\r\n").await.starts_with("250 "));
        assert!(fake.messages().is_empty());
    }

    #[tokio::test]
    async fn rejects_the_next_rcpt_once_and_checks_credentials() {
        let fake = FakeSmtp::start_with_credentials("mailer", "right")
            .await
            .unwrap();
        fake.reject_next_rcpt(550, "5.1.1 No such user");
        let (mut client, _) = Client::connect(&fake).await;
        client.send("EHLO c.example\r\n").await;
        assert!(
            client
                .send("MAIL FROM:<a@x.example>\r\n")
                .await
                .starts_with("530 ")
        );
        // LOGIN with base64("mailer") / base64("wrong"), then PLAIN with the right password.
        assert!(
            client
                .send("AUTH LOGIN\r\n")
                .await
                .starts_with("334 VXNlcm5hbWU6")
        );
        assert!(
            client
                .send("bWFpbGVy\r\n")
                .await
                .starts_with("334 UGFzc3dvcmQ6")
        );
        assert!(client.send("d3Jvbmc=\r\n").await.starts_with("535 "));
        assert!(client.send("AUTH PLAIN\r\n").await.starts_with("334"));
        assert!(
            client
                .send("AG1haWxlcgByaWdodA==\r\n")
                .await
                .starts_with("235 ")
        );
        assert!(
            client
                .send("MAIL FROM:<a@x.example>\r\n")
                .await
                .starts_with("250 ")
        );
        assert_eq!(
            client.send("RCPT TO:<b@y.example>\r\n").await,
            "550 5.1.1 No such user\r\n"
        );
        assert!(
            client
                .send("RCPT TO:<b@y.example>\r\n")
                .await
                .starts_with("250 ")
        );
        assert_eq!(fake.connections(), 1);
    }
}
