//! The user's terminal: whether stdin, stdout or stderr is a terminal, the
//! window size, raw mode for an interactive session (`run -it`, `attach`,
//! `exec -it`), and the prompts of `login`. Raw mode is undone when its
//! guard drops, which covers returns, errors and panics that unwind; a
//! panic hook restores it too (a panic in another thread, or one that
//! aborts), and so does [`restore`] for exits that skip destructors.

use std::io;
use std::os::fd::AsFd;
use std::sync::Mutex;

use rustix::termios::{self, OptionalActions, Termios};

/// The terminal settings raw mode replaced, while it is on.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Whether the CLI's stdin is a terminal.
pub fn stdin_is_tty() -> bool {
    termios::isatty(io::stdin().as_fd())
}

/// Whether the CLI's stdout is a terminal (progress bars, or plain lines).
pub fn stdout_is_tty() -> bool {
    termios::isatty(io::stdout().as_fd())
}

/// Whether the CLI's stderr is a terminal (the pull `run` makes draws its
/// progress there).
pub fn stderr_is_tty() -> bool {
    termios::isatty(io::stderr().as_fd())
}

/// The terminal's size (columns, rows), from stdout, else stdin; `None`
/// when neither is a terminal (or it reports 0x0).
pub fn size() -> Option<(u32, u32)> {
    let ws = termios::tcgetwinsize(io::stdout().as_fd())
        .or_else(|_| termios::tcgetwinsize(io::stdin().as_fd()))
        .ok()?;
    (ws.ws_col > 0 && ws.ws_row > 0).then_some((u32::from(ws.ws_col), u32::from(ws.ws_row)))
}

/// Raw mode on the terminal behind stdin: every key goes to the container
/// as typed (no echo, no line editing, ^C as a byte). Undone on drop.
pub struct RawMode {
    _private: (),
}

impl RawMode {
    /// Switches stdin's terminal to raw mode.
    pub fn enable() -> io::Result<RawMode> {
        let stdin = io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        raw.make_raw();
        install_panic_hook();
        *SAVED.lock().unwrap_or_else(|p| p.into_inner()) = Some(saved);
        if let Err(e) = termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw) {
            restore();
            return Err(e.into());
        }
        Ok(RawMode { _private: () })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts back the settings raw mode replaced, if it is on.
pub fn restore() {
    let saved = SAVED.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(t) = saved {
        // TCSAFLUSH would throw away what the user typed meanwhile; "now"
        // keeps it for the shell.
        let _ = termios::tcsetattr(io::stdin().as_fd(), OptionalActions::Now, &t);
    }
}

/// Restores the terminal before the default panic message is printed.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let next = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            next(info);
        }));
    });
}

/// The controlling terminal, for `login`'s questions: they reach the user
/// even when stdin and stdout are redirected, and the password is read
/// with echo off.
pub struct Prompt {
    tty: std::fs::File,
}

impl Prompt {
    /// Opens /dev/tty; fails when the process has no terminal.
    pub fn open() -> io::Result<Prompt> {
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")?;
        Ok(Prompt { tty })
    }

    /// Asks `question` and reads the answer as typed.
    pub fn ask(&mut self, question: &str) -> io::Result<String> {
        self.say(question)?;
        self.read_line()
    }

    /// Asks `question` and reads the answer without echoing it. The terminal
    /// is byte by byte meanwhile (no echo, no signals), so ^C cancels here
    /// and the echo is always restored.
    pub fn ask_secret(&mut self, question: &str) -> io::Result<String> {
        self.say(question)?;
        let saved = termios::tcgetattr(self.tty.as_fd())?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(
            termios::LocalModes::ECHO | termios::LocalModes::ICANON | termios::LocalModes::ISIG,
        );
        termios::tcsetattr(self.tty.as_fd(), OptionalActions::Now, &quiet)?;
        let answer = self.read_secret();
        let restored = termios::tcsetattr(self.tty.as_fd(), OptionalActions::Now, &saved);
        // The Enter the user typed was not echoed either.
        self.say("\n")?;
        restored?;
        answer
    }

    /// A line typed with the terminal byte by byte: Enter ends it, backspace
    /// takes back, ^C cancels, ^D on an empty line is the end of input.
    fn read_secret(&mut self) -> io::Result<String> {
        use io::Read;
        let mut line: Vec<u8> = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match self.tty.read(&mut byte) {
                Ok(0) => break,
                Ok(_) => match byte[0] {
                    b'\r' | b'\n' => break,
                    0x03 => return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled")),
                    0x04 if line.is_empty() => break,
                    0x7f | 0x08 => {
                        line.pop();
                    }
                    b => line.push(b),
                },
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        String::from_utf8(line)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the answer is not UTF-8"))
    }

    fn say(&mut self, text: &str) -> io::Result<()> {
        use io::Write;
        self.tty.write_all(text.as_bytes())?;
        self.tty.flush()
    }

    /// One line, without its end; byte by byte so nothing typed after it
    /// is swallowed.
    fn read_line(&mut self) -> io::Result<String> {
        use io::Read;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match self.tty.read(&mut byte) {
                Ok(0) => break,
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) => line.push(byte[0]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the answer is not UTF-8"))
    }
}
