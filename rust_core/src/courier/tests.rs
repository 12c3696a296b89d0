//! The courier against a loopback HTTP/1.1 keep-alive server (std threads, one per connection).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Completion, Courier, CourierError, Options, Request};

#[derive(Default)]
struct Stats {
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Paths: `/slow/<ms>` answers after that delay; anything else at once. The answer is an OCPI
/// envelope whose `data` echoes the method, the body and the `x-request-id` header.
fn server() -> (String, Arc<Stats>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stats = Arc::new(Stats::default());
    let s = stats.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            s.connections.fetch_add(1, Ordering::SeqCst);
            let s = s.clone();
            std::thread::spawn(move || serve(stream, &s));
        }
    });
    (base, stats)
}

fn serve(stream: TcpStream, stats: &Stats) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
        let (mut length, mut request_id) = (0usize, String::new());
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "x-request-id" => request_id = value.trim().to_owned(),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if let Some(ms) = path.strip_prefix("/slow/") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
        }
        stats.in_flight.fetch_sub(1, Ordering::SeqCst);
        let answer = format!(
            r#"{{"status_code":1000,"data":{{"method":"{method}","body":"{}","request_id":"{request_id}"}}}}"#,
            String::from_utf8_lossy(&body)
        );
        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Total-Count: 7\r\nContent-Length: {}\r\n\r\n", answer.len());
        if writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(answer.as_bytes())).is_err() {
            return;
        }
    }
}

fn request(id: u64, method: &str, url: &str, body: Option<&str>) -> Request {
    Request {
        id,
        method: method.into(),
        url: url.into(),
        headers: vec![("X-Request-ID".into(), format!("req-{id}")), ("Content-Type".into(), "application/json".into())],
        body: body.map(|b| b.as_bytes().to_vec()),
    }
}

fn courier(max: usize, timeout_ms: u64) -> Courier {
    Courier::new(Options::new(max, Duration::from_millis(timeout_ms))).unwrap()
}

/// Every completion of `n` submitted requests, failing after 10 s.
fn collect(c: &Courier, n: usize) -> Vec<Completion> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut all = Vec::new();
    while all.len() < n {
        assert!(Instant::now() < deadline, "only {} of {n} completions", all.len());
        all.extend(c.completed(1000, Duration::from_millis(100)));
    }
    all
}

#[test]
fn many_requests_share_a_few_keep_alive_connections() {
    let (base, stats) = server();
    let c = courier(4, 5000);
    let n = 400;
    for chunk in (0..n).collect::<Vec<u64>>().chunks(50) {
        c.submit(chunk.iter().map(|&i| request(i, "PUT", &format!("{base}/ocpi/x/{i}"), Some(&format!("b{i}")))).collect()).unwrap();
    }
    let done = collect(&c, n as usize);
    let ids: HashSet<u64> = done.iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), n as usize);
    for d in &done {
        assert_eq!(d.error, None);
        assert_eq!(d.status, Some(200));
        let body = String::from_utf8(d.body.clone()).unwrap();
        assert_eq!(body, format!(r#"{{"status_code":1000,"data":{{"method":"PUT","body":"b{0}","request_id":"req-{0}"}}}}"#, d.id));
        assert!(d.headers.contains(&("x-total-count".into(), "7".into())), "{:?}", d.headers);
        assert!(d.elapsed_ms > 0.0);
    }
    // Pooled: never more than the cap at once, and the connections were reused. hyper hands a connection back to
    // its pool just after the answer completes, so a request taking the freed slot at that moment may open one
    // more: a few over the cap, never one per request (CI once saw 5).
    assert!(stats.max_in_flight.load(Ordering::SeqCst) <= 4);
    assert!(stats.connections.load(Ordering::SeqCst) <= 8, "{} connections", stats.connections.load(Ordering::SeqCst));
}

#[test]
fn the_per_host_cap_holds_with_slow_answers() {
    let (base, stats) = server();
    let c = courier(2, 5000);
    c.submit((0..8).map(|i| request(i, "GET", &format!("{base}/slow/50"), None)).collect()).unwrap();
    let done = collect(&c, 8);
    assert!(done.iter().all(|d| d.status == Some(200)));
    assert_eq!(stats.max_in_flight.load(Ordering::SeqCst), 2);
    // The last ones waited for a slot: elapsed counts from submit.
    assert!(done.iter().map(|d| d.elapsed_ms).fold(0.0, f64::max) >= 190.0);
}

#[test]
fn a_slow_answer_times_out() {
    let (base, _) = server();
    let c = courier(2, 150);
    let started = Instant::now();
    c.submit(vec![request(1, "GET", &format!("{base}/slow/2000"), None), request(2, "GET", &format!("{base}/fast"), None)]).unwrap();
    let mut done = collect(&c, 2);
    done.sort_by_key(|d| d.id);
    assert_eq!(done[0].status, None);
    assert_eq!(done[0].error.as_deref(), Some("timeout after 0.150 s"));
    assert!(done[0].elapsed_ms >= 150.0 && started.elapsed() < Duration::from_millis(1500));
    assert_eq!(done[1].status, Some(200));
}

#[test]
fn a_refused_connection_is_an_error() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // closed again
    let c = courier(2, 2000);
    c.submit(vec![request(9, "POST", &format!("http://127.0.0.1:{port}/x"), Some("{}"))]).unwrap();
    let done = collect(&c, 1);
    assert_eq!((done[0].id, done[0].status), (9, None));
    let error = done[0].error.as_deref().unwrap();
    assert!(error.contains("refused"), "{error}");
}

#[test]
fn bad_requests_complete_at_once_with_their_error() {
    let c = courier(2, 2000);
    c.submit(vec![
        request(1, "GET", "not a url", None),
        request(2, "GET", "ftp://example.com/x", None),
        request(3, "GE T", "http://127.0.0.1:1/", None),
        Request { headers: vec![("X-Bad".into(), "a\nb".into())], ..request(4, "GET", "http://127.0.0.1:1/", None) },
    ])
    .unwrap();
    let mut done = c.completed(10, Duration::ZERO);
    done.sort_by_key(|d| d.id);
    let errors: Vec<&str> = done.iter().map(|d| d.error.as_deref().unwrap()).collect();
    assert!(errors[0].starts_with("invalid URL \"not a url\""), "{}", errors[0]);
    assert!(errors[1].ends_with("an absolute http or https URL is needed"), "{}", errors[1]);
    assert_eq!(errors[2], "invalid method \"GE T\"");
    assert_eq!(errors[3], "invalid value of header x-bad");
}

#[test]
fn close_cancels_what_is_in_flight() {
    let (base, _) = server();
    let c = courier(4, 10_000);
    c.submit((0..3).map(|i| request(i, "GET", &format!("{base}/slow/5000"), None)).collect()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    c.close();
    assert!(started.elapsed() < Duration::from_secs(2));
    let done = c.completed(10, Duration::ZERO);
    assert_eq!(done.len(), 3);
    assert!(done.iter().all(|d| d.status.is_none() && d.error.as_deref() == Some("courier closed")));
    assert_eq!(c.submit(vec![request(5, "GET", &base, None)]).unwrap_err(), CourierError::Closed);
    assert!(c.is_closed());
    c.close(); // idempotent
}

#[test]
fn completed_waits_at_most_its_deadline() {
    let c = courier(1, 1000);
    let started = Instant::now();
    assert!(c.completed(10, Duration::from_millis(50)).is_empty());
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[test]
fn options_are_checked() {
    assert!(matches!(Courier::new(Options::new(0, Duration::from_secs(1))), Err(CourierError::Options(_))));
    assert!(matches!(Courier::new(Options::new(1, Duration::ZERO)), Err(CourierError::Options(_))));
}
