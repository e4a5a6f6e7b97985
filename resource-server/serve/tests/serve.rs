//! The server loop on a real socket, where the socket is the point: a
//! client that trickles its headers is cut off, handlers see the peer
//! address, and shutdown lets a request in flight finish.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::Router;
use serve::{serve, ServeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(config: ServeConfig) -> Running {
    let app = Router::new()
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "finished"
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, app, config, async {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}

/// Sends `request` as it is and reads until the server closes.
async fn exchange(addr: SocketAddr, request: &str) -> (SocketAddr, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let local = stream.local_addr().expect("local addr");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("the server closes in time")
        .expect("read");
    (local, answer)
}

#[tokio::test]
async fn handlers_see_the_peer_address() {
    let server = start(ServeConfig::default()).await;
    let (local, answer) = exchange(
        server.addr,
        "GET /peer HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(&local.to_string()), "{answer}");
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    let server = start(ServeConfig {
        header_read_timeout: Duration::from_millis(200),
        ..ServeConfig::default()
    })
    .await;
    let started = std::time::Instant::now();
    // Headers that never end: no blank line follows.
    let (_, answer) = exchange(server.addr, "GET /peer HTTP/1.1\r\nHost: test\r\n").await;
    assert!(
        answer.is_empty(),
        "no answer, just a closed connection: {answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let server = start(ServeConfig::default()).await;
    let in_flight = tokio::spawn(exchange(
        server.addr,
        "GET /slow HTTP/1.1\r\nHost: test\r\n\r\n",
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop.send(()).expect("server running");
    let (_, answer) = in_flight.await.expect("request task");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("finished"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("serve returns after the drain")
        .expect("serve task")
        .expect("serve");
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "the listener is closed"
    );
}
