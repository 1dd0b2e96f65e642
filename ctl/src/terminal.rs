//! The user's terminal: whether stdin is a terminal, the
//! window size, and raw mode for an interactive session (`run -it`,
//! `attach`, `exec -it`). Raw mode is undone when its guard drops, which
//! covers returns, errors and panics that unwind; a panic hook restores it
//! too (a panic in another thread, or one that aborts), and so does
//! [`restore`] for exits that skip destructors.

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
