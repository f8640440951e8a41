//! One journey in a real headless Chromium (Debian's `chromium` and `chromium-driver`, driven
//! over WebDriver), on a phone-sized and a desktop-sized window: the portal's pages work in a
//! browser, not only as forms. Each step's screenshot is written to
//! `<target>/tmp/portal-screenshots/`. It needs the browser:
//! `apt-get install -y chromium chromium-driver`, then
//! `cargo test -p aberta-auth --test browser` (`.ci/run` installs both).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use base64::Engine;
use common::*;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: apt-get install -y chromium chromium-driver");
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if let Ok(resp) = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await
                && resp.status().is_success()
            {
                return driver;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not come up");
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp: Value = req.send().await.unwrap().json().await.unwrap();
        assert!(resp["value"].get("error").is_none(), "{path}: {resp}");
        resp["value"].clone()
    }

    async fn session(&self, width: u32, height: u32) -> String {
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}")]
            }
        }}});
        let value = self
            .call(reqwest::Method::POST, "/session", Some(caps))
            .await;
        value["sessionId"].as_str().unwrap().to_string()
    }
}

struct Page<'a> {
    driver: &'a Driver,
    session: String,
    label: &'static str,
    step: u32,
}

impl Page<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    async fn go(&self, url: &str) {
        self.driver
            .call(
                reqwest::Method::POST,
                &self.path("/url"),
                Some(json!({ "url": url })),
            )
            .await;
    }

    /// Waits until the page's URL contains `part` (the click's navigation has finished).
    async fn wait_for_url(&self, part: &str) -> String {
        for _ in 0..200 {
            let url = self.url().await;
            if url.contains(part) {
                return url;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "the browser never reached a URL containing {part}: {}",
            self.url().await
        );
    }

    async fn url(&self) -> String {
        self.driver
            .call(reqwest::Method::GET, &self.path("/url"), None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn element(&self, css: &str) -> String {
        let value = self
            .driver
            .call(
                reqwest::Method::POST,
                &self.path("/element"),
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        value[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {value}"))
            .to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.driver
            .call(
                reqwest::Method::POST,
                &self.path(&format!("/element/{id}/value")),
                Some(json!({ "text": text })),
            )
            .await;
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.driver
            .call(
                reqwest::Method::POST,
                &self.path(&format!("/element/{id}/click")),
                Some(json!({})),
            )
            .await;
    }

    async fn screenshot(&mut self, name: &str) {
        self.step += 1;
        let png = self
            .driver
            .call(reqwest::Method::GET, &self.path("/screenshot"), None)
            .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("portal-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{}-{:02}-{name}.png", self.label, self.step)),
            bytes,
        )
        .unwrap();
    }
}

async fn journey_in(driver: &Driver, label: &'static str, width: u32, height: u32) {
    let sandbox = start(Backend::Sqlite).await;
    let callback = format!("{}/tpp-callback", sandbox.issuer());
    let mut tpp = sandbox.new_tpp_with(&["DADOS"], vec![callback.clone()]);
    sandbox.register(&mut tpp).await;
    let (cpf, password) = sandbox.user();
    let consent_id = sandbox.consent(&tpp, &cpf).await;
    let verifier = verifier();
    let claims = tpp.request_claims(&format!("openid accounts consent:{consent_id}"), &verifier);
    let (status, par) = tpp.par(claims).await;
    assert_eq!(status, 201, "{par}");
    let authorize = format!(
        "{}/authorize?client_id={}&request_uri={}",
        sandbox.issuer(),
        tpp.client_id(),
        par["request_uri"].as_str().unwrap()
    );

    let mut page = Page {
        driver,
        session: driver.session(width, height).await,
        label,
        step: 0,
    };
    page.go(&authorize).await;
    page.wait_for_url("/portal/login").await;
    page.screenshot("login").await;
    page.type_into("input[name=username]", &cpf).await;
    page.type_into("input[name=password]", &password).await;
    page.screenshot("login-filled").await;
    page.click("button[name=login]").await;
    page.wait_for_url("/portal/consent").await;
    page.screenshot("consent").await;
    page.click("button[name=approve]").await;
    let landed = page.wait_for_url(&callback).await;
    page.screenshot("back-at-the-tpp").await;
    let fragment: std::collections::HashMap<String, String> =
        serde_urlencoded::from_str(landed.split_once('#').unwrap().1).unwrap();
    let id_token = tpp.open_id_token(&fragment["id_token"]).await;
    assert_eq!(id_token["c_hash"], half_hash(&fragment["code"]).as_str());
    let (status, tokens) = exchange(&tpp, &fragment["code"], &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    driver
        .call(
            reqwest::Method::DELETE,
            &format!("/session/{}", page.session),
            None,
        )
        .await;
}

#[tokio::test]
async fn portal_journey_in_headless_chromium_phone_and_desktop() {
    let driver = Driver::start().await;
    journey_in(&driver, "phone", 390, 844).await;
    journey_in(&driver, "desktop", 1366, 900).await;
}
