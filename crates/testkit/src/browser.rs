//! A real browser for tests: Debian's Chromium, headless, driven through ChromeDriver's W3C WebDriver protocol.
//! [`Browser::start`] returns `None` when either is not installed, so that a test can skip locally; under `CI`
//! the caller must fail instead (`.ci/run` installs both).

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::http;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium with a window of `width` × `height`, or `None` when they are
    /// not installed.
    pub async fn start(width: u32, height: u32) -> anyhow::Result<Option<Browser>> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
            return Ok(None);
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        // A process group of its own, so that ending it ends the Chromium processes it started too (they would
        // otherwise outlive a test that panics, or a session that does not close).
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .context("starting chromedriver")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(answer) = http::get(addr, "/status", &[]).await {
                if answer.status == 200 {
                    break;
                }
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not answer within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut browser = Browser { driver, addr, session: String::new() };
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--hide-scrollbars", "--lang=vi-VN", format!("--window-size={width},{height}")]
            }
        }}});
        let created = browser.command("POST", "/session", capabilities).await?;
        browser.session = created["sessionId"].as_str().context("chromedriver gave no session id")?.to_owned();
        Ok(Some(browser))
    }

    async fn command(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let bytes = if method == "GET" { Vec::new() } else { serde_json::to_vec(&body)? };
        let headers = [("content-type", "application/json")];
        let answer = http::request(self.addr, method, path, &headers, bytes).await?;
        let value: Value =
            serde_json::from_slice(&answer.body).with_context(|| format!("chromedriver {path}: {}", answer.text()))?;
        if answer.status != 200 {
            bail!("chromedriver {method} {path}: {} {}", answer.status, value["value"]["message"]);
        }
        Ok(value["value"].clone())
    }

    fn path(&self, tail: &str) -> String {
        format!("/session/{}{tail}", self.session)
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.command("POST", &self.path("/url"), json!({ "url": url })).await.map(drop)
    }

    pub async fn current_url(&self) -> anyhow::Result<String> {
        Ok(self.command("GET", &self.path("/url"), Value::Null).await?.as_str().unwrap_or_default().to_owned())
    }

    /// Runs `script` (a function body, with `arguments`) in the page and returns its result.
    pub async fn execute(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.command("POST", &self.path("/execute/sync"), json!({ "script": script, "args": args })).await
    }

    /// The visible text of the first element matching `css`, if any.
    pub async fn text(&self, css: &str) -> anyhow::Result<Option<String>> {
        let value = self
            .execute("const e = document.querySelector(arguments[0]); return e ? e.innerText : null;", json!([css]))
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// The visible texts of every element matching `css`.
    pub async fn texts(&self, css: &str) -> anyhow::Result<Vec<String>> {
        let value = self
            .execute("return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText);", json!([css]))
            .await?;
        Ok(value
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default())
    }

    /// Presses `keys` (WebDriver key codes, such as "\u{E004}" for Tab) on the focused element, one after another.
    pub async fn press(&self, keys: &str) -> anyhow::Result<()> {
        let mut actions = Vec::new();
        for key in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": key.to_string()}));
            actions.push(json!({"type": "keyUp", "value": key.to_string()}));
        }
        let body = json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]});
        self.command("POST", &self.path("/actions"), body).await.map(drop)
    }

    pub async fn set_window(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.command("POST", &self.path("/window/rect"), json!({"width": width, "height": height})).await.map(drop)
    }

    /// The value of cookie `name`, HttpOnly ones included (WebDriver sees them; the page's scripts do not).
    pub async fn cookie(&self, name: &str) -> anyhow::Result<Option<Value>> {
        match self.command("GET", &self.path(&format!("/cookie/{name}")), Value::Null).await {
            Ok(cookie) => Ok(Some(cookie)),
            Err(_) => Ok(None),
        }
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        let data = self.command("GET", &self.path("/screenshot"), Value::Null).await?;
        Ok(base64::engine::general_purpose::STANDARD.decode(data.as_str().context("no screenshot")?)?)
    }

    /// Ends the session, then ChromeDriver and every Chromium process it started.
    pub async fn quit(self) -> anyhow::Result<()> {
        let _ = self.command("DELETE", &self.path(""), Value::Null).await;
        Ok(())
    }

    /// Kills the process group ChromeDriver leads: it and the browser's processes.
    fn kill_all(&self) {
        if let Some(group) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill_all();
    }
}
