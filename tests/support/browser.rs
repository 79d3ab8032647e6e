//! A headless Chromium driven over the DevTools protocol, for the dashboard's tests: a
//! WebSocket client of a few frames' worth (text frames, masked as a client's must be), on
//! blocking loopback sockets with timeouts, so that no test waits forever.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// How long any one exchange with the browser may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A running headless Chromium with a profile of its own, stopped and removed on drop.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    /// `host:port` of its DevTools endpoint.
    devtools: String,
}

impl Browser {
    /// Starts `chromium` headless on `about:blank`.
    ///
    /// # Panics
    /// When it does not start, or does not open its DevTools endpoint in time.
    pub fn start(chromium: &Path) -> Self {
        let profile = std::env::temp_dir().join(format!(
            "staunch-chromium-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let mut child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        // It prints `DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID`.
        let stderr = child.stderr.take().unwrap();
        let (found, endpoint) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ws://") {
                    let _ = found.send(url.split('/').next().unwrap_or_default().to_owned());
                }
            }
        });
        let devtools = endpoint
            .recv_timeout(TIMEOUT)
            .expect("chromium opens its DevTools endpoint");
        Self {
            child,
            profile,
            devtools,
        }
    }

    /// The page it opened, ready for commands.
    pub fn page(&self) -> Page {
        let list = http_get(&self.devtools, "/json/list");
        let targets: Value = serde_json::from_str(&list).expect("a list of targets");
        let socket_url = targets
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        let path = socket_url
            .strip_prefix(&format!("ws://{}", self.devtools))
            .expect("the page's socket is on the DevTools endpoint");
        Page::connect(&self.devtools, path)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn connect(host: &str) -> TcpStream {
    let stream = TcpStream::connect(host).expect("the DevTools endpoint accepts");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// The body of a GET of `path` on `host` (read to its `Content-Length`: the endpoint keeps the
/// connection open).
fn http_get(host: &str, path: &str) -> String {
    let mut stream = connect(host);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let head = read_head(&mut stream);
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .expect("a Content-Length");
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    String::from_utf8(body).expect("a UTF-8 body")
}

/// An HTTP head, up to and with its blank line.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("an HTTP answer");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// One page's DevTools session.
pub struct Page {
    stream: TcpStream,
    next_id: u64,
}

impl Page {
    fn connect(host: &str, path: &str) -> Self {
        let mut stream = connect(host);
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: c3RhdW5jaC1kYXNoYm9hcmQ=\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let head = read_head(&mut stream);
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "handshake refused: {head}"
        );
        Self { stream, next_id: 1 }
    }

    /// Sends `method` with `params` and returns its `result`, skipping the events between.
    ///
    /// # Panics
    /// When the browser answers with an error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.send(message.as_bytes());
        loop {
            let answer: Value =
                serde_json::from_slice(&self.receive()).expect("JSON from DevTools");
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// Loads `url` in the page.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
    }

    /// The value of the JavaScript expression `expression` in the page.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// A PNG of the page as it is drawn now.
    pub fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine as _;
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("image data"))
            .expect("base64 image data")
    }

    fn send(&mut self, payload: &[u8]) {
        // FIN and a text frame; a client masks what it sends (with any key).
        let mut frame = vec![0x81];
        let masked = 0x80;
        match payload.len() {
            n @ 0..=125 => frame.push(masked | u8::try_from(n).unwrap()),
            n @ 126..=0xFFFF => {
                frame.push(masked | 126);
                frame.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
            }
            n => {
                frame.push(masked | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key = [0x5a, 0x17, 0xc3, 0x08];
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        self.stream.write_all(&frame).expect("the browser reads");
    }

    /// The next whole text message (fragments joined; pings answered).
    fn receive(&mut self) -> Vec<u8> {
        let mut message = Vec::new();
        loop {
            let mut head = [0; 2];
            self.stream
                .read_exact(&mut head)
                .expect("a frame from the browser");
            let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
            let len = match head[1] & 0x7f {
                126 => {
                    let mut n = [0; 2];
                    self.stream.read_exact(&mut n).unwrap();
                    u64::from(u16::from_be_bytes(n))
                }
                127 => {
                    let mut n = [0; 8];
                    self.stream.read_exact(&mut n).unwrap();
                    u64::from_be_bytes(n)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0; usize::try_from(len).unwrap()];
            self.stream.read_exact(&mut payload).unwrap();
            match opcode {
                0x8 => panic!("the browser closed the session"),
                0x9 => self.pong(&payload),
                0xa => {}
                _ => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return message;
                    }
                }
            }
        }
    }

    fn pong(&mut self, payload: &[u8]) {
        let mut frame = vec![0x8a, 0x80 | u8::try_from(payload.len().min(125)).unwrap()];
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(&payload[..payload.len().min(125)]);
        self.stream.write_all(&frame).unwrap();
    }
}
