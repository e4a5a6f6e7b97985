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

/// Opens `count` connections that send part of a request head and stall,
/// as slowloris clients do; they stay open while the result lives.
async fn slow_clients(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /peer HTTP/1.1\r\nHost: slow\r\n")
            .await
            .expect("write");
        clients.push(stream);
    }
    clients
}

/// One request on a fresh connection; its round trip.
async fn timed_request(addr: SocketAddr) -> Duration {
    let started = std::time::Instant::now();
    let (_, answer) = exchange(
        addr,
        "GET /peer HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_slow_connections_leave_room_for_a_normal_request() {
    // The usual default soft limit; the server raises it to the hard limit
    // for the process (these test clients included).
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("limit");
    rlimit::setrlimit(rlimit::Resource::NOFILE, 1024.min(hard), hard).expect("lower");
    let server = start(ServeConfig::default()).await;
    timed_request(server.addr).await; // the server is up, the limit raised
    let _slow = slow_clients(server.addr, 3000).await;
    let mut times = Vec::new();
    for _ in 0..21 {
        times.push(timed_request(server.addr).await);
    }
    times.sort_unstable();
    let median = times[times.len() / 2];
    assert!(
        median < Duration::from_millis(100),
        "with 3,000 slow connections open, requests took {times:?}"
    );
}

#[tokio::test]
async fn past_the_cap_a_connection_is_closed_at_once_and_room_comes_back() {
    let server = start(ServeConfig {
        max_connections: 20,
        ..ServeConfig::default()
    })
    .await;
    let slow = slow_clients(server.addr, 20).await;
    let mut refused = TcpStream::connect(server.addr).await.expect("connect");
    let _ = refused
        .write_all(b"GET /peer HTTP/1.1\r\nHost: test\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), refused.read_to_end(&mut answer))
        .await
        .expect("closed at once, not left waiting")
        .ok();
    assert!(answer.is_empty(), "closed without an answer");
    drop(slow);
    // The slow connections' places come back as the server notices them go.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream
            .write_all(b"GET /peer HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no room came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = start(ServeConfig {
        header_read_timeout: Duration::from_millis(300),
        ..ServeConfig::default()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    let mut buffer = [0u8; 1024];
    let read = stream.read(&mut buffer).await.expect("answer");
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
    // Kept alive, then left idle: the server closes it.
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .expect("the idle connection is closed in time")
        .expect("read");
    assert_eq!(closed, 0, "end of stream");
}

#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit() {
    let limit = serve::raise_open_file_limit().expect("readable here");
    assert!(limit >= 1024, "{limit}");
}

/// Sends `request` and returns what came back before the server closed:
/// a server refusing a head early may reset the connection while the rest
/// is still being written, so neither side's error ends the exchange.
async fn refused_exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&chunk[..n]),
            Ok(_) => break,
            Err(_) => panic!("the server closes in time"),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_request_head_over_the_limit_is_refused_and_one_under_it_served() {
    let server = start(ServeConfig {
        max_header_bytes: 16 * 1024,
        ..ServeConfig::default()
    })
    .await;
    let with_header = |bytes: usize| {
        format!(
            "GET /peer HTTP/1.1\r\nHost: test\r\nConnection: close\r\nX-Filler: {}\r\n\r\n",
            "a".repeat(bytes)
        )
    };
    let (_, answer) = exchange(server.addr, &with_header(12 * 1024)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // hyper's default would read up to ~400 KiB of head per connection.
    let answer = refused_exchange(server.addr, &with_header(100 * 1024)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let long_path = format!(
        "GET /{} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        "p".repeat(64 * 1024)
    );
    let answer = refused_exchange(server.addr, &long_path).await;
    assert!(
        answer.starts_with("HTTP/1.1 414") || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
}
