//! `http_api` and `http_delegate`: the input is everything a client sends on one
//! connection (then it half-closes and reads to the end), served by
//! `http::serve_stream` with the local API's handler and limits, or the
//! delegate's, on one current-thread runtime as the "http" thread runs it.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

use crate::http::{Handler, Limits};
use crate::store::{self, Store};

use super::fixture;

/// The connection's own timeouts, shorter than the servers' (10 s idle, 30 s
/// per request) so that an input waiting on one ends within the fuzzer's
/// per-input timeout; every input ends with the client's half-close, so
/// nothing should wait on them.
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
/// The connection must be over by then: the input is all there, then EOF.
const INPUT_DEADLINE: Duration = Duration::from_secs(15);
/// The in-memory stream's buffer in each direction.
const STREAM_BUFFER_BYTES: usize = 64 * 1024;
/// Answers read at most: a pipelined input of small requests brings many.
const ANSWER_BYTES_MAX: u64 = 16 * 1024 * 1024;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .max_blocking_threads(2)
            .build()
            .expect("a tokio runtime")
    })
}

/// The local API's handler and limits, on a fixture control state and an
/// in-memory store.
fn api() -> &'static (Handler, Limits) {
    static API: OnceLock<(Handler, Limits)> = OnceLock::new();
    API.get_or_init(|| {
        let control = fixture::control();
        let config = fixture::config(&std::env::temp_dir());
        let settings = config.api.clone().expect("the fixture has [api]");
        let store = Store::open_in_memory().expect("an in-memory store");
        let parts = crate::api::Parts {
            control,
            store: store::Shared::new(store),
            certs: config.certs.clone(),
            certs_context: None,
            delegate: None,
            config_source: config.source.clone(),
            roles: crate::api::roles(&config),
        };
        crate::api::handler(settings, fixture::API_TOKEN.into(), parts)
    })
}

/// The delegate's handler and limits (`delegate::Prepared::start`'s).
fn delegate() -> &'static (Handler, Limits) {
    static DELEGATE: OnceLock<(Handler, Limits)> = OnceLock::new();
    DELEGATE.get_or_init(|| {
        let (api, _) = fixture::delegate();
        let handler: Handler = std::sync::Arc::new(move |request| api.handle(request));
        (handler, Limits::default())
    })
}

pub fn http_api(data: &[u8]) {
    let (handler, limits) = api();
    exchange(data, handler, limits);
}

pub fn http_delegate(data: &[u8]) {
    let (handler, limits) = delegate();
    exchange(data, handler, limits);
}

/// Sends `data` on a new connection, half-closes, reads every answer.
fn exchange(data: &[u8], handler: &Handler, limits: &Limits) {
    let limits = Limits {
        idle_timeout: IDLE_TIMEOUT,
        request_timeout: REQUEST_TIMEOUT,
        ..limits.clone()
    };
    let peer = SocketAddr::from(([127, 0, 0, 1], 40_000));
    let (handler, data) = (handler.clone(), data.to_vec());
    let answer = runtime().block_on(async move {
        let (client, server) = tokio::io::duplex(STREAM_BUFFER_BYTES);
        let serving =
            tokio::spawn(
                async move { crate::http::serve_stream(server, peer, &limits, handler).await },
            );
        let (reader, mut writer) = tokio::io::split(client);
        let sending = tokio::spawn(async move {
            // The server may close first (an answered framing error).
            let _ = writer.write_all(&data).await;
            let _ = writer.shutdown().await;
        });
        let mut answer = Vec::new();
        let talk = async {
            let _ = reader.take(ANSWER_BYTES_MAX).read_to_end(&mut answer).await;
            for task in [serving, sending] {
                if let Err(e) = task.await
                    && e.is_panic()
                {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        };
        let done = tokio::time::timeout(INPUT_DEADLINE, talk).await;
        done.map(|()| answer)
    });
    let answer = answer.expect("the connection outlived its input's end by 15 s");
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1."),
        "an answer that is not HTTP: {:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );
}
