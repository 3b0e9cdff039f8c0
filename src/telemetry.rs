//! Logging: human-readable text (coloured only on a terminal), JSON with
//! `--log-format json`; the filter comes from `BREAKWATER_LOG` or `RUST_LOG`.
//!
//! Panics on the server's threads are one log line, never a backtrace: a
//! panic that a member's request can provoke must not flood the log. Where
//! the server catches a panic (a handler, a connection, one object's
//! validation) the catcher writes that line with what it was doing; the hook
//! only records the message.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::IsTerminal;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing_subscriber::EnvFilter;

pub fn init(format: &str, default_level: &str) {
    let filter = std::env::var("BREAKWATER_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default_level));
    // Colour codes only where a person reads them: a journal, a file or a
    // pipe gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

thread_local! {
    /// How many `catch` scopes are open on this thread.
    static CATCHING: Cell<u32> = const { Cell::new(0) };
    /// The last panic's message and location, for the innermost catcher.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the panic hook once per process. Panics inside `catch` are
/// recorded for the catcher; other panics on server threads (actix workers,
/// the blocking pool, the server's own unnamed threads) are logged as one
/// line; panics elsewhere (the main thread, a test) go to the previous hook.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let message = format!("{}{location}", payload_message(info.payload()));
            if CATCHING.with(Cell::get) > 0 {
                CAUGHT.with(|c| *c.borrow_mut() = Some(message));
                return;
            }
            let thread = std::thread::current();
            let name = thread.name();
            let server_thread =
                name.is_none_or(|n| n.starts_with("actix-") || n.starts_with("tokio-"));
            if server_thread {
                tracing::error!(
                    thread = name.unwrap_or("-"),
                    panic = %message,
                    "a server thread panicked"
                );
            } else {
                previous(info);
            }
        }));
    });
}

fn payload_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// Runs `f`; a panic inside it comes back as its message (with location)
/// instead of unwinding further, and the hook stays silent about it.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    CATCHING.with(|c| c.set(c.get() + 1));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get() - 1));
    result.map_err(|payload| {
        CAUGHT
            .with(|c| c.borrow_mut().take())
            .unwrap_or_else(|| payload_message(payload.as_ref()))
    })
}

/// A future whose panics, in any poll, end it with `Err(message)`.
pub struct CatchPanic<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> CatchPanic<F> {
    pub fn new(inner: F) -> CatchPanic<F> {
        CatchPanic {
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catch(move || inner.poll(cx)) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(message) => Poll::Ready(Err(message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_returns_the_message_and_location() {
        install_panic_hook();
        let err = catch(|| -> u8 { panic!("boom {}", 7) }).unwrap_err();
        assert!(err.starts_with("boom 7 at src/telemetry.rs:"), "{err}");
        assert_eq!(catch(|| 5).unwrap(), 5);
        // Nested scopes: the inner catcher gets its own panic.
        let outer = catch(|| {
            let inner = catch(|| panic!("inner")).unwrap_err();
            assert!(inner.starts_with("inner"));
            panic!("outer")
        });
        assert!(outer.unwrap_err().starts_with("outer"));
    }

    #[test]
    fn a_panicking_future_ends_with_its_message() {
        install_panic_hook();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let fut = CatchPanic::new(async {
            tokio::task::yield_now().await;
            if std::hint::black_box(true) {
                panic!("in a handler");
            }
            1
        });
        let err = rt.block_on(fut).unwrap_err();
        assert!(err.starts_with("in a handler"), "{err}");
        assert_eq!(rt.block_on(CatchPanic::new(async { 2 })).unwrap(), 2);
    }
}
