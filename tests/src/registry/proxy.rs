//! A small HTTP/1.1 proxy on 127.0.0.1 in front of a plain-HTTP registry,
//! which can corrupt, cut or stall a blob download, or refuse connections.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::http::{copy_body, copy_data, read_head, BodyKind, Head};
use super::STARTUP;

/// What the proxy does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forwards everything as it is.
    Pass,
    /// Flips a byte in the middle of every response body to
    /// `GET /v2/<name>/blobs/<digest>` of this digest (same length).
    Corrupt(String),
    /// Sends half of the next response body to `GET .../blobs/<digest>` of
    /// this digest, then closes both connections; then back to `Pass`.
    CutOnce(String),
    /// Like `CutOnce`, for every such response (a link that keeps failing).
    CutAlways(String),
    /// Sends half of the next response body to `GET .../blobs/<digest>` of
    /// this digest, then sends nothing more until the client goes away (a
    /// download in progress, for killing the client mid-way); then back to
    /// `Pass`.
    StallOnce(String),
    /// Refuses connections (nothing listens) and closes open ones.
    Down,
}

struct ProxyState {
    mode: ProxyMode,
    /// Whether the accept thread holds a bound listener.
    listening: bool,
    shutdown: bool,
    /// "METHOD target" of every request seen.
    requests: Vec<String>,
    corrupted: usize,
    cuts: usize,
    stalls: usize,
    /// Clones of open client connections, to close them when going down.
    conns: Vec<TcpStream>,
}

struct ProxyShared {
    state: Mutex<ProxyState>,
    changed: Condvar,
}

impl ProxyShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, ProxyState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An HTTP/1.1 proxy on 127.0.0.1 in front of a plain-HTTP registry: the
/// client talks to the proxy as if it were the registry. One upstream
/// connection per client connection; what is not HTTP (a TLS client hello:
/// clients try https first on 127.0.0.1) is piped through unchanged, so the
/// client sees the registry's own answer to it.
pub struct Proxy {
    port: u16,
    shared: Arc<ProxyShared>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// A proxy in front of `upstream` ("127.0.0.1:PORT"), passing through.
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let shared = Arc::new(ProxyShared {
            state: Mutex::new(ProxyState {
                mode: ProxyMode::Pass,
                listening: true,
                shutdown: false,
                requests: Vec::new(),
                corrupted: 0,
                cuts: 0,
                stalls: 0,
                conns: Vec::new(),
            }),
            changed: Condvar::new(),
        });
        let upstream = upstream.to_string();
        let s = shared.clone();
        let accept = std::thread::spawn(move || accept_loop(listener, port, &upstream, &s));
        Proxy {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// "127.0.0.1:PORT" of the proxy.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Changes what the proxy does; returns once it is in force (for
    /// `Down`: nothing listens and open connections are closed).
    pub fn set_mode(&self, mode: ProxyMode) {
        let down = mode == ProxyMode::Down;
        {
            let mut st = self.shared.lock();
            st.mode = mode;
            if down {
                for c in st.conns.drain(..) {
                    let _ = c.shutdown(Shutdown::Both);
                }
            }
        }
        self.shared.changed.notify_all();
        if down {
            // Wake the accept thread so that it drops its listener.
            let _ = TcpStream::connect(self.host());
        }
        let deadline = Instant::now() + STARTUP;
        let mut st = self.shared.lock();
        while st.listening == down {
            assert!(Instant::now() < deadline, "proxy did not change mode");
            st = self
                .shared
                .changed
                .wait_timeout(st, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// "METHOD target" of every request the proxy forwarded.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }

    /// How many blob responses were corrupted.
    pub fn corrupted(&self) -> usize {
        self.shared.lock().corrupted
    }

    /// How many blob responses were cut.
    pub fn cuts(&self) -> usize {
        self.shared.lock().cuts
    }

    /// How many blob responses are (or were) stalled half-way.
    pub fn stalls(&self) -> usize {
        self.shared.lock().stalls
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        {
            let mut st = self.shared.lock();
            st.shutdown = true;
            for c in st.conns.drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
        self.shared.changed.notify_all();
        let _ = TcpStream::connect(self.host());
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, port: u16, upstream: &str, shared: &Arc<ProxyShared>) {
    let mut listener = Some(listener);
    loop {
        {
            let mut st = shared.lock();
            if st.shutdown {
                return;
            }
            if st.mode == ProxyMode::Down {
                listener = None;
                st.listening = false;
                shared.changed.notify_all();
                while st.mode == ProxyMode::Down && !st.shutdown {
                    st = shared.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                continue;
            }
        }
        if listener.is_none() {
            // Back up on the same port (std sets SO_REUSEADDR).
            let deadline = Instant::now() + STARTUP;
            let l = loop {
                match TcpListener::bind(("127.0.0.1", port)) {
                    Ok(l) => break l,
                    Err(e) if Instant::now() > deadline => {
                        panic!("proxy cannot listen on 127.0.0.1:{port} again: {e}")
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            };
            listener = Some(l);
            shared.lock().listening = true;
            shared.changed.notify_all();
        }
        let Some(l) = &listener else {
            continue;
        };
        let Ok((conn, _)) = l.accept() else {
            continue;
        };
        {
            let mut st = shared.lock();
            if st.shutdown || st.mode == ProxyMode::Down {
                continue;
            }
            if let Ok(c) = conn.try_clone() {
                st.conns.push(c);
            }
        }
        let upstream = upstream.to_string();
        let s = shared.clone();
        std::thread::spawn(move || {
            // A failing connection is what some modes are for; the client
            // sees it, the proxy has nothing to add.
            let _ = serve(conn, &upstream, &s);
        });
    }
}

/// What to do with one response body.
#[derive(Clone, Copy)]
enum Action {
    Pass,
    Corrupt,
    Cut,
    Stall,
}

/// Waits until the client closes its connection (or the proxy stops).
fn wait_until_closed(client: &mut BufReader<TcpStream>, shared: &ProxyShared) {
    if client
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .is_err()
    {
        return;
    }
    let mut buf = [0u8; 4096];
    loop {
        match client.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                if shared.lock().shutdown {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// The digest of `GET /v2/<name>/blobs/<digest>`, if that is the request.
fn blob_digest(head: &Head) -> Option<&str> {
    if head.method != "GET" {
        return None;
    }
    let path = head.target.split('?').next().unwrap_or_default();
    let rest = path.strip_prefix("/v2/")?;
    let (_, digest) = rest.rsplit_once("/blobs/")?;
    (!digest.contains('/')).then_some(digest)
}

/// Serves one client connection: request by request over one upstream
/// connection, until either side closes or a mode ends it.
fn serve(client: TcpStream, upstream: &str, shared: &ProxyShared) -> std::io::Result<()> {
    let mut cr = BufReader::new(client.try_clone()?);
    let mut cw = client;
    let up = TcpStream::connect(upstream)?;
    let mut ur = BufReader::new(up.try_clone()?);
    let mut uw = up;
    match cr.fill_buf()?.first() {
        None => return Ok(()),
        // Not HTTP (a TLS client hello): a plain pipe.
        Some(b) if !b.is_ascii_uppercase() => return pipe(cr, cw, ur, uw),
        Some(_) => {}
    }
    loop {
        let Some(raw) = read_head(&mut cr)? else {
            return Ok(());
        };
        let req = Head::parse(&raw)?;
        let Some(action) = decide(&req, shared) else {
            return Ok(());
        };
        uw.write_all(&raw)?;
        copy_body(
            &mut cr,
            &mut uw,
            req.request_body(),
            &mut |_: &mut [u8], _| {},
        )?;
        // The response, after any 1xx interim ones.
        let resp = loop {
            let raw = read_head(&mut ur)?.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "upstream closed")
            })?;
            cw.write_all(&raw)?;
            let resp = Head::parse(&raw)?;
            if !(100..200).contains(&resp.status) || resp.status == 101 {
                break resp;
            }
        };
        let kind = resp.response_body(&req.method);
        // Only a successful body with a known length is spoiled.
        let spoil = match kind {
            BodyKind::Length(n) if (200..300).contains(&resp.status) && n > 1 => Some(n),
            _ => None,
        };
        match (action, spoil) {
            (Action::Corrupt, Some(n)) => {
                let mid = n / 2;
                copy_body(&mut ur, &mut cw, kind, &mut |buf: &mut [u8], off| {
                    if off <= mid && mid < off + buf.len() as u64 {
                        buf[(mid - off) as usize] ^= 0xff;
                    }
                })?;
                shared.lock().corrupted += 1;
            }
            (Action::Cut | Action::Stall, Some(n)) => {
                copy_data(&mut ur, &mut cw, n / 2, &mut 0, &mut |_: &mut [u8], _| {})?;
                cw.flush()?;
                if matches!(action, Action::Stall) {
                    shared.lock().stalls += 1;
                    wait_until_closed(&mut cr, shared);
                } else {
                    shared.lock().cuts += 1;
                }
                let _ = cw.shutdown(Shutdown::Both);
                let _ = uw.shutdown(Shutdown::Both);
                return Ok(());
            }
            _ => copy_body(&mut ur, &mut cw, kind, &mut |_: &mut [u8], _| {})?,
        }
        if kind == BodyKind::UntilEof || resp.closes() || req.closes() {
            let _ = cw.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
}

/// Records a request and decides what to do with its response; None when
/// the proxy is going down (the connection is to close).
fn decide(req: &Head, shared: &ProxyShared) -> Option<Action> {
    let mut st = shared.lock();
    if st.mode == ProxyMode::Down || st.shutdown {
        return None;
    }
    st.requests.push(format!("{} {}", req.method, req.target));
    let action = match (&st.mode, blob_digest(req)) {
        (ProxyMode::Corrupt(d), Some(got)) if d == got => Action::Corrupt,
        (ProxyMode::CutOnce(d) | ProxyMode::CutAlways(d), Some(got)) if d == got => Action::Cut,
        (ProxyMode::StallOnce(d), Some(got)) if d == got => Action::Stall,
        _ => Action::Pass,
    };
    if matches!(action, Action::Cut | Action::Stall) && !matches!(st.mode, ProxyMode::CutAlways(_))
    {
        st.mode = ProxyMode::Pass;
    }
    Some(action)
}

/// Copies bytes both ways until either side closes.
fn pipe(
    mut cr: BufReader<TcpStream>,
    mut cw: TcpStream,
    mut ur: BufReader<TcpStream>,
    uw: TcpStream,
) -> std::io::Result<()> {
    let mut uw2 = uw;
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut cr, &mut uw2);
        let _ = uw2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut ur, &mut cw);
    let _ = cw.shutdown(Shutdown::Both);
    let _ = t.join();
    Ok(())
}
