//! Reading feeds from `tributary serve` under load, checking every answer:
//! used by the load test (`crash.rs`) and the load benchmark
//! (`benches/load.rs`, which includes this file).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

/// A deterministic pseudo-random sequence (64-bit LCG), seeded per iteration.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        let mut l = Lcg(seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(0x2545_F491_4F6C_DD1D));
        l.next();
        l
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A duration in `[0, max)`.
    pub fn below(&mut self, max: Duration) -> Duration {
        let us = max.as_micros().max(1) as u64;
        Duration::from_micros(self.next() % us)
    }
}

/// Parse `body` completely as the format of `path`.
pub fn parses(path: &str, body: &[u8]) -> Result<(), String> {
    let r = if path.ends_with(".json") {
        serde_json::from_slice::<serde_json::Value>(body)
            .map(drop)
            .map_err(|e| e.to_string())
    } else if path.ends_with(".atom") {
        atom_syndication::Feed::read_from(body)
            .map(drop)
            .map_err(|e| e.to_string())
    } else {
        rss::Channel::read_from(body)
            .map(drop)
            .map_err(|e| e.to_string())
    };
    r.map_err(|e| format!("{path}: does not parse: {e}"))
}

/// One GET: 200, a body whose hash is the one its `ETag` advertises, the
/// length `Content-Length` announced (identity only), a complete feed.
pub async fn get_one(client: &reqwest::Client, base: &str, path: &str) -> Result<(), String> {
    let resp = client
        .get(format!("{base}/{path}"))
        .send()
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(format!("{path}: status {}", resp.status()));
    }
    let etag = resp
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| format!("{path}: no ETag"))?;
    let identity = resp
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .is_none();
    let length = resp.content_length().filter(|_| identity);
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("{path}: body: {e}"))?;
    if let Some(n) = length {
        if n != body.len() as u64 {
            return Err(format!("{path}: Content-Length {n}, body {}", body.len()));
        }
    }
    // The ETag of every coding is the hash of the identity bytes plus a suffix.
    let hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&body));
    let advertised = etag.trim_matches('"').split('-').next().unwrap_or("");
    if advertised != hash {
        return Err(format!("{path}: ETag {etag}, body hash {hash}: torn body"));
    }
    parses(path, &body)
}

/// What the clients saw: good responses, failures, latencies.
#[derive(Default)]
pub struct Seen {
    pub ok: u64,
    pub bad: Vec<String>,
    pub latencies: Vec<Duration>,
}

/// `clients` concurrent clients GET `paths` in a loop for `span`; half of
/// them accept gzip and brotli, half only identity.
pub fn load(base: &str, paths: &[String], clients: usize, span: Duration) -> Seen {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let paths = Arc::new(paths.to_vec());
    rt.block_on(async {
        let end = Instant::now() + span;
        let mut tasks = Vec::new();
        for c in 0..clients {
            let paths = paths.clone();
            let base = base.to_string();
            tasks.push(tokio::spawn(async move {
                let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10));
                if c % 2 == 1 {
                    b = b.no_gzip().no_brotli();
                }
                let client = b.build().expect("client");
                let mut seen = Seen::default();
                let mut rng = Lcg::new(c as u64);
                while Instant::now() < end {
                    let path = &paths[(rng.next() % paths.len() as u64) as usize];
                    let t = Instant::now();
                    match get_one(&client, &base, path).await {
                        Ok(()) => seen.ok += 1,
                        Err(e) => seen.bad.push(e),
                    }
                    seen.latencies.push(t.elapsed());
                }
                seen
            }));
        }
        let mut all = Seen::default();
        for t in tasks {
            let s = t.await.expect("client task");
            all.ok += s.ok;
            all.bad.extend(s.bad);
            all.latencies.extend(s.latencies);
        }
        all
    })
}
