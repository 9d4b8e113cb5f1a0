//! A registry client for the OCI distribution spec (and Docker's token
//! auth, `distribution/docs/spec/auth/token.md`), blocking, on ureq.
//!
//! Auth follows what containerd does: send the request; on 401 read the
//! challenge of that response (`Bearer realm=..,service=..,scope=..` or
//! `Basic realm=..`), get a token from the realm (anonymously, or with the
//! credentials from the Docker config as Basic), cache it per registry,
//! repository and actions, and retry once.

use crate::auth::{AuthFile, Credentials};
use crate::digest::sha256;
use crate::reference::{is_loopback_registry, Reference};
use crate::store::{self, Store};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Mutex;
use std::time::Duration;
use ureq::http::{self, Response};
use ureq::Body;

/// What we accept for manifests, most specific first (as containerd's
/// resolver). Schema1 is not listed: it is refused.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Manifests larger than this are refused (the spec asks registries to
/// accept at least 4 MB).
pub const MAX_MANIFEST: u64 = 8 << 20;

const ATTEMPTS: u32 = 4;

/// Errors talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// the HTTP request failed below HTTP (connection, TLS, timeout)
    #[error("failed to {method} {url}: {source}")]
    Http {
        /// Method.
        method: String,
        /// URL.
        url: String,
        /// The error.
        source: ureq::Error,
    },
    /// the registry answered with an unexpected status
    #[error("{method} {url}: {status} {message}")]
    Status {
        /// Method.
        method: String,
        /// URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The registry's error message(s), if any.
        message: String,
    },
    /// authentication was refused or impossible
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// a manifest is invalid or of an unsupported type
    #[error("invalid manifest {reference}: {message}")]
    Manifest {
        /// What was fetched.
        reference: String,
        /// Why it was refused.
        message: String,
    },
    /// a blob failed to land in the store
    #[error("failed to store {digest}: {source}")]
    Store {
        /// The blob.
        digest: String,
        /// The error.
        source: store::Error,
    },
    /// the credentials file could not be read
    #[error(transparent)]
    Auth(#[from] crate::auth::Error),
    /// reading a local file to upload failed
    #[error("failed to read {what}: {source}")]
    Io {
        /// What was read.
        what: String,
        /// The error.
        source: io::Error,
    },
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

/// A manifest (or index) as the registry sent it: exact bytes, because
/// digests are over them.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Raw bytes.
    pub bytes: Vec<u8>,
    /// Media type (Content-Type, or the document's `mediaType`).
    pub media_type: String,
    /// `sha256:` of the bytes.
    pub digest: String,
}

/// A body to send, re-creatable for a retry after a 401.
#[derive(Clone, Copy)]
enum Send<'a> {
    Empty,
    Bytes(&'a [u8], &'a str),
    /// `len` bytes of a file from `offset`.
    File(&'a std::path::Path, u64, u64),
}

/// What [`Client::push_blob_from`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The repository had it.
    Exists,
    /// Mounted from another repository of the registry.
    Mounted,
    /// Uploaded.
    Uploaded,
}

/// Blobs above this size are pushed in `PATCH` chunks of this size.
pub const CHUNK_SIZE: u64 = 16 << 20;

/// A registry client. Cheap to share between threads.
pub struct Client {
    agent: ureq::Agent,
    auth: Option<AuthFile>,
    insecure: HashSet<String>,
    schemes: Mutex<HashMap<String, &'static str>>,
    tokens: Mutex<HashMap<String, String>>,
    chunk_size: u64,
}

impl Client {
    /// A client reading credentials from `auth` (None: anonymous only) and
    /// allowed to use plain HTTP for the `insecure` registries besides
    /// localhost and 127.0.0.0/8.
    pub fn new(auth: Option<AuthFile>, insecure: &[String]) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("pier/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            agent: config.new_agent(),
            auth,
            insecure: insecure.iter().cloned().collect(),
            schemes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            chunk_size: CHUNK_SIZE,
        }
    }

    fn creds(&self, registry: &str) -> Result<Option<Credentials>> {
        match &self.auth {
            Some(a) => Ok(a.get(registry)?),
            None => Ok(None),
        }
    }

    /// `https://host` or, for registries allowed plain HTTP that do not
    /// speak TLS, `http://host` (Docker tries TLS first, then falls back).
    fn base(&self, r: &Reference) -> String {
        let host = r.api_host().to_string();
        if let Some(s) = lock(&self.schemes).get(&host) {
            return format!("{s}://{host}");
        }
        let may_plain = is_loopback_registry(&r.registry) || self.insecure.contains(&r.registry);
        let scheme = if !may_plain {
            "https"
        } else {
            match self.agent.get(format!("https://{host}/v2/")).call() {
                Ok(_) => "https",
                Err(_) => "http",
            }
        };
        lock(&self.schemes).insert(host.clone(), scheme);
        format!("{scheme}://{host}")
    }

    /// `GET /v2/`: checks that the registry speaks the API and that the
    /// credentials (if any) are accepted.
    pub fn ping(&self, r: &Reference) -> Result<()> {
        let url = format!("{}/v2/", self.base(r));
        let resp = self.request(r, "pull", "GET", &url, &[], Send::Empty)?;
        expect(resp, "GET", &url, &[200]).map(drop)
    }

    /// Checks `creds` against the registry of `r` (`pier login`).
    pub fn login(&self, r: &Reference, creds: &Credentials) -> Result<()> {
        let url = format!("{}/v2/", self.base(r));
        let resp = self.send("GET", &url, &[], Send::Empty, None)?;
        if resp.status() != 401 {
            return expect(resp, "GET", &url, &[200]).map(drop);
        }
        let challenge = header(&resp, "www-authenticate").unwrap_or_default();
        let auth = self.answer(&challenge, Some(creds), r, "pull")?;
        let resp = self.send("GET", &url, &[], Send::Empty, Some(&auth))?;
        if resp.status() == 401 {
            return Err(Error::Unauthorized(format!(
                "{}: incorrect username or password",
                r.registry
            )));
        }
        expect(resp, "GET", &url, &[200]).map(drop)
    }

    /// Fetches the manifest `object` (tag or digest) of `r`'s repository.
    pub fn manifest(&self, r: &Reference, object: &str) -> Result<Manifest> {
        let url = format!("{}/v2/{}/manifests/{}", self.base(r), r.repository, object);
        let resp = self.request(
            r,
            "pull",
            "GET",
            &url,
            &[("Accept", MANIFEST_ACCEPT)],
            Send::Empty,
        )?;
        let resp = expect(resp, "GET", &url, &[200])?;
        let content_type = header(&resp, "content-type")
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let header_digest = header(&resp, "docker-content-digest");
        let bytes = resp
            .into_body()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .map_err(|source| Error::Http {
                method: "GET".into(),
                url: url.clone(),
                source,
            })?;
        let bad = |message: String| Error::Manifest {
            reference: format!("{}@{}", r.name(), object),
            message,
        };
        let digest = sha256(&bytes);
        if object.contains(':') && object != digest {
            return Err(bad(format!("content has digest {digest}")));
        }
        if let Some(h) = header_digest.filter(|h| h.starts_with("sha256:")) {
            if h != digest {
                return Err(bad(format!(
                    "Docker-Content-Digest {h} does not match content {digest}"
                )));
            }
        }
        let doc: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        let doc_type = doc["mediaType"].as_str().unwrap_or("").to_string();
        // The spec: reject when the document's mediaType and Content-Type
        // disagree. Generic content types (some registries, some proxies)
        // defer to the document.
        let generic = content_type.is_empty()
            || content_type == "application/json"
            || content_type == "application/octet-stream"
            || content_type == "text/plain";
        let media_type = match (generic, doc_type.is_empty()) {
            (true, false) => doc_type,
            (false, true) => content_type,
            (false, false) if doc_type == content_type => doc_type,
            (false, false) => {
                return Err(bad(format!(
                    "mediaType {doc_type} does not match Content-Type {content_type}"
                )))
            }
            (true, true) if doc["manifests"].is_array() => {
                oci_spec::image::MediaType::ImageIndex.to_string()
            }
            (true, true) => oci_spec::image::MediaType::ImageManifest.to_string(),
        };
        if !store::is_manifest_type(&media_type) && !store::is_index_type(&media_type) {
            return Err(bad(format!("unsupported media type {media_type}")));
        }
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Downloads blob `digest` of `size` bytes into `store`, checking both
    /// while streaming; a dropped connection is resumed with `Range`.
    pub fn fetch_blob(&self, r: &Reference, digest: &str, size: u64, store: &Store) -> Result<()> {
        self.fetch_blob_progress(r, digest, size, store, &|_| {})
    }

    /// [`Client::fetch_blob`], telling `progress` the bytes received so far
    /// (back to 0 when a whole attempt starts again).
    pub fn fetch_blob_progress(
        &self,
        r: &Reference,
        digest: &str,
        size: u64,
        store: &Store,
        progress: &dyn Fn(u64),
    ) -> Result<()> {
        if store.has_blob(digest, size) {
            return Ok(());
        }
        let url = format!("{}/v2/{}/blobs/{}", self.base(r), r.repository, digest);
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt);
            }
            let reader = ResumingReader {
                client: self,
                reference: r,
                url: &url,
                offset: 0,
                body: None,
                resumes: 0,
                progress,
            };
            match store.write_blob(reader, Some((digest, size))) {
                Ok(_) => return Ok(()),
                // The registry failed us even after the reader's own
                // resumes: try again from the start.
                Err(e @ store::Error::Read { .. }) => last = Some(e),
                // Wrong content is not a network hiccup, and a full disk
                // stays full: do not retry.
                Err(e) => {
                    return Err(Error::Store {
                        digest: digest.into(),
                        source: e,
                    })
                }
            }
        }
        Err(Error::Store {
            digest: digest.into(),
            source: last.unwrap_or(store::Error::NoSuchImage(digest.into())),
        })
    }

    /// `HEAD` on a blob: whether the repository has it.
    pub fn blob_exists(&self, r: &Reference, digest: &str) -> Result<bool> {
        let url = format!("{}/v2/{}/blobs/{}", self.base(r), r.repository, digest);
        let resp = self.request(r, "pull,push", "HEAD", &url, &[], Send::Empty)?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => expect(resp, "HEAD", &url, &[200]).map(|_| true),
        }
    }

    /// Uploads blob `digest` unless the repository already has it: in one
    /// `PUT` when it is at most the chunk size, else in chunks. Returns
    /// whether it was uploaded.
    pub fn push_blob(
        &self,
        r: &Reference,
        digest: &str,
        size: u64,
        path: &std::path::Path,
    ) -> Result<bool> {
        Ok(self.push_blob_from(r, digest, size, path, None)? != Pushed::Exists)
    }

    /// [`Client::push_blob`], first asking the registry to mount the blob
    /// from repository `from` of the same registry (distribution-spec
    /// end-11: 201 mounted, 202 an upload session to use instead).
    pub fn push_blob_from(
        &self,
        r: &Reference,
        digest: &str,
        size: u64,
        path: &std::path::Path,
        from: Option<&str>,
    ) -> Result<Pushed> {
        if self.blob_exists(r, digest)? {
            return Ok(Pushed::Exists);
        }
        let base = self.base(r);
        let mut url = format!("{base}/v2/{}/blobs/uploads/", r.repository);
        if let Some(from) = from.filter(|f| *f != r.repository) {
            url.push_str(&format!("?mount={}&from={}", encode(digest), encode(from)));
        }
        let resp = self.request(r, "pull,push", "POST", &url, &[], Send::Empty)?;
        let resp = expect(resp, "POST", &url, &[201, 202])?;
        if resp.status() == 201 {
            return Ok(Pushed::Mounted);
        }
        let chunk_min = header(&resp, "oci-chunk-min-length")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let mut location = self.location(&resp, &base, "POST", &url)?;
        if size > self.chunk_size {
            location = self.upload_chunks(r, &base, location, size, path, chunk_min)?;
            self.finish_upload(r, &location, digest, Send::Empty)?;
        } else {
            self.finish_upload(r, &location, digest, Send::File(path, 0, size))?;
        }
        Ok(Pushed::Uploaded)
    }

    /// Sets the size above which blobs are pushed in `PATCH` chunks of
    /// that size (default [`CHUNK_SIZE`]).
    pub fn set_chunk_size(&mut self, bytes: u64) {
        self.chunk_size = bytes.max(1);
    }

    /// The absolute upload URL of a response's `Location`.
    fn location(
        &self,
        resp: &Response<Body>,
        base: &str,
        method: &str,
        url: &str,
    ) -> Result<String> {
        let location = header(resp, "location").ok_or_else(|| Error::Status {
            method: method.into(),
            url: url.into(),
            status: resp.status().as_u16(),
            message: "no Location header".into(),
        })?;
        Ok(
            if location.starts_with("http://") || location.starts_with("https://") {
                location
            } else {
                format!("{base}{location}")
            },
        )
    }

    /// `PATCH`es `path` in chunks with `Content-Range` (distribution-spec
    /// end-5); after a failed chunk, asks the session where it stands
    /// (`GET`, 204 with `Range: 0-N`) and goes on from there. Returns the
    /// last location.
    fn upload_chunks(
        &self,
        r: &Reference,
        base: &str,
        mut location: String,
        size: u64,
        path: &std::path::Path,
        chunk_min: u64,
    ) -> Result<String> {
        let chunk = self.chunk_size.max(chunk_min);
        let mut offset = 0;
        let mut failures = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let range = format!("{}-{}", offset, offset + len - 1);
            let res = self.request(
                r,
                "pull,push",
                "PATCH",
                &location,
                &[
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", &range),
                ],
                Send::File(path, offset, len),
            );
            let retry = match res {
                Ok(resp) if resp.status() == 202 => {
                    let next = self.location(&resp, base, "PATCH", &location)?;
                    offset = upload_end(&resp).unwrap_or(offset + len);
                    location = next;
                    failures = 0;
                    continue;
                }
                Ok(resp) if resp.status() == 416 || resp.status().is_server_error() => {
                    Error::Status {
                        method: "PATCH".into(),
                        url: location.clone(),
                        status: resp.status().as_u16(),
                        message: "chunk refused".into(),
                    }
                }
                Ok(resp) => return expect(resp, "PATCH", &location, &[202]).map(|_| location),
                Err(e @ Error::Http { .. }) => e,
                Err(e) => return Err(e),
            };
            failures += 1;
            if failures >= ATTEMPTS {
                return Err(retry);
            }
            backoff(failures);
            // Where does the session stand? (end-13)
            let resp = self.request(r, "pull,push", "GET", &location, &[], Send::Empty)?;
            let resp = expect(resp, "GET", &location, &[204])?;
            offset = upload_end(&resp).unwrap_or(0);
            location = self.location(&resp, base, "GET", &location)?;
        }
        Ok(location)
    }

    /// Closes an upload session: `PUT <location>?digest=` (end-6), with the
    /// whole blob or, after chunks, nothing.
    fn finish_upload(
        &self,
        r: &Reference,
        location: &str,
        digest: &str,
        body: Send<'_>,
    ) -> Result<()> {
        let mut put = location.to_string();
        // The location may carry state in its query (`_state=`).
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str("digest=");
        put.push_str(&encode(digest));
        let resp = self.request(
            r,
            "pull,push",
            "PUT",
            &put,
            &[("Content-Type", "application/octet-stream")],
            body,
        )?;
        expect(resp, "PUT", &put, &[201, 204]).map(drop)
    }

    /// `PUT` a manifest under `object` (tag or digest).
    pub fn push_manifest(&self, r: &Reference, object: &str, m: &Manifest) -> Result<()> {
        let url = format!("{}/v2/{}/manifests/{}", self.base(r), r.repository, object);
        let resp = self.request(
            r,
            "pull,push",
            "PUT",
            &url,
            &[],
            Send::Bytes(&m.bytes, &m.media_type),
        )?;
        expect(resp, "PUT", &url, &[201, 200, 202]).map(drop)
    }

    /// Sends a request with the cached authorization for `r`'s repository
    /// and `actions`; on 401 authenticates from the challenge and retries
    /// once. Transport errors and 5xx/429 are retried with backoff for GET
    /// and HEAD.
    fn request(
        &self,
        r: &Reference,
        actions: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Send<'_>,
    ) -> Result<Response<Body>> {
        let key = format!("{}|{}|{}", r.registry, r.repository, actions);
        let cached = lock(&self.tokens).get(&key).cloned();
        let resp = self.send_retrying(method, url, headers, body, cached.as_deref())?;
        if resp.status() != 401 {
            return Ok(resp);
        }
        let challenge = header(&resp, "www-authenticate").unwrap_or_default();
        let creds = self.creds(&r.registry)?;
        let auth = self.answer(&challenge, creds.as_ref(), r, actions)?;
        lock(&self.tokens).insert(key, auth.clone());
        self.send_retrying(method, url, headers, body, Some(&auth))
    }

    fn send_retrying(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Send<'_>,
        auth: Option<&str>,
    ) -> Result<Response<Body>> {
        let idempotent = method == "GET" || method == "HEAD";
        let mut attempt = 0;
        loop {
            let res = self.send(method, url, headers, body, auth);
            let retry = match &res {
                Err(Error::Http { .. }) => true,
                Ok(resp) => resp.status().is_server_error() || resp.status() == 429,
                Err(_) => false,
            };
            attempt += 1;
            if !retry || !idempotent || attempt >= ATTEMPTS {
                return res;
            }
            backoff(attempt);
        }
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Send<'_>,
        auth: Option<&str>,
    ) -> Result<Response<Body>> {
        let mut b = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        let http_err = |source| Error::Http {
            method: method.into(),
            url: url.into(),
            source,
        };
        let build_err = |e: http::Error| Error::Http {
            method: method.into(),
            url: url.into(),
            source: ureq::Error::Http(e),
        };
        match body {
            Send::Empty => {
                let req = if method == "POST" || method == "PUT" {
                    b.header("Content-Length", "0").body(&[][..])
                } else {
                    b.body(&[][..])
                };
                self.agent.run(req.map_err(build_err)?).map_err(http_err)
            }
            Send::Bytes(data, ctype) => {
                let req = b
                    .header("Content-Type", ctype)
                    .header("Content-Length", data.len().to_string())
                    .body(data)
                    .map_err(build_err)?;
                self.agent.run(req).map_err(http_err)
            }
            Send::File(path, offset, len) => {
                let io_err = |source| Error::Io {
                    what: path.display().to_string(),
                    source,
                };
                let mut f = File::open(path).map_err(io_err)?;
                f.seek(SeekFrom::Start(offset)).map_err(io_err)?;
                let mut part = f.take(len);
                let req = b
                    .header("Content-Length", len.to_string())
                    .body(ureq::SendBody::from_reader(&mut part))
                    .map_err(build_err)?;
                self.agent.run(req).map_err(http_err)
            }
        }
    }

    /// The Authorization value answering `challenge`.
    fn answer(
        &self,
        challenge: &str,
        creds: Option<&Credentials>,
        r: &Reference,
        actions: &str,
    ) -> Result<String> {
        let (scheme, params) = parse_challenge(challenge);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => creds.map(Credentials::basic_header).ok_or_else(|| {
                Error::Unauthorized(format!(
                    "{} requires a login (pier login {})",
                    r.registry, r.registry
                ))
            }),
            "bearer" => {
                let realm = params.get("realm").ok_or_else(|| {
                    Error::Unauthorized(format!("{}: bearer challenge without realm", r.registry))
                })?;
                let mut url = realm.clone();
                url.push(if url.contains('?') { '&' } else { '?' });
                let mut q = Vec::new();
                if let Some(s) = params.get("service") {
                    q.push(format!("service={}", encode(s)));
                }
                // The challenge's scope is the one this request needs; ask
                // for our actions on the repository too (push needs both).
                let scope = format!("repository:{}:{}", r.repository, actions);
                q.push(format!("scope={}", encode(&scope)));
                // Several scopes (a mount also needs pull on the source)
                // are space-separated in the challenge, one parameter each
                // in the token request.
                for s in params.get("scope").into_iter().flat_map(|s| s.split(' ')) {
                    if !s.is_empty() && s != scope {
                        q.push(format!("scope={}", encode(s)));
                    }
                }
                url.push_str(&q.join("&"));
                let basic = creds.map(Credentials::basic_header);
                let resp = self.send_retrying("GET", &url, &[], Send::Empty, basic.as_deref())?;
                if resp.status() == 401 || resp.status() == 403 {
                    return Err(Error::Unauthorized(format!(
                        "{}: token server refused the credentials",
                        r.registry
                    )));
                }
                let resp = expect(resp, "GET", &url, &[200])?;
                let raw = resp
                    .into_body()
                    .with_config()
                    .limit(1 << 20)
                    .read_to_vec()
                    .map_err(|source| Error::Http {
                        method: "GET".into(),
                        url: url.clone(),
                        source,
                    })?;
                let v: serde_json::Value = serde_json::from_slice(&raw).map_err(|_| {
                    Error::Unauthorized(format!("{}: token server sent invalid JSON", r.registry))
                })?;
                let token = v["token"]
                    .as_str()
                    .or(v["access_token"].as_str())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        Error::Unauthorized(format!("{}: token server sent no token", r.registry))
                    })?;
                Ok(format!("Bearer {token}"))
            }
            _ => Err(Error::Unauthorized(format!(
                "{}: unsupported challenge {challenge:?}",
                r.registry
            ))),
        }
    }
}

/// Streams a blob, reopening with `Range: bytes=N-` when the connection
/// drops part way (registries SHOULD support Range).
struct ResumingReader<'a> {
    client: &'a Client,
    reference: &'a Reference,
    url: &'a str,
    offset: u64,
    body: Option<ureq::BodyReader<'static>>,
    resumes: u32,
    progress: &'a dyn Fn(u64),
}

impl ResumingReader<'_> {
    fn open(&mut self) -> io::Result<()> {
        let range = format!("bytes={}-", self.offset);
        let headers: &[(&str, &str)] = if self.offset > 0 {
            &[("Range", &range)]
        } else {
            &[]
        };
        let resp = self
            .client
            .request(
                self.reference,
                "pull",
                "GET",
                self.url,
                headers,
                Send::Empty,
            )
            .map_err(io::Error::other)?;
        let want = if self.offset > 0 { 206 } else { 200 };
        let resp = expect(resp, "GET", self.url, &[want]).map_err(io::Error::other)?;
        self.body = Some(resp.into_body().into_with_config().limit(u64::MAX).reader());
        Ok(())
    }
}

impl Read for ResumingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.body.is_none() {
                self.open()?;
            }
            let Some(body) = self.body.as_mut() else {
                return Ok(0);
            };
            match body.read(buf) {
                Ok(n) => {
                    self.offset += n as u64;
                    (self.progress)(self.offset);
                    return Ok(n);
                }
                Err(e) if self.resumes + 1 < ATTEMPTS && self.offset > 0 => {
                    let _ = e;
                    self.resumes += 1;
                    self.body = None;
                    backoff(self.resumes);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The next offset of an upload session from its `Range: 0-N` header.
fn upload_end(resp: &Response<Body>) -> Option<u64> {
    let range = header(resp, "range")?;
    let end = range.trim().trim_start_matches("bytes=").split_once('-')?.1;
    end.trim().parse::<u64>().ok().map(|e| e + 1)
}

fn backoff(attempt: u32) {
    std::thread::sleep(Duration::from_millis(100 << attempt.min(6)));
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Passes `resp` if its status is one of `ok`; else an error carrying the
/// registry's error messages (`{"errors":[{"code","message"}]}`).
fn expect(resp: Response<Body>, method: &str, url: &str, ok: &[u16]) -> Result<Response<Body>> {
    let status = resp.status().as_u16();
    if ok.contains(&status) {
        return Ok(resp);
    }
    let body = resp
        .into_body()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
        .unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let msgs: Vec<String> = v["errors"]
                .as_array()?
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["code"].as_str().unwrap_or(""),
                        e["message"].as_str().unwrap_or("")
                    )
                })
                .collect();
            Some(msgs.join("; "))
        })
        .unwrap_or_else(|| body.trim().chars().take(200).collect());
    if status == 401 || status == 403 {
        return Err(Error::Unauthorized(format!("{method} {url}: {message}")));
    }
    Err(Error::Status {
        method: method.into(),
        url: url.into(),
        status,
        message,
    })
}

/// Parses `Scheme k=v, k="quoted, with commas"` (RFC 7235 auth-params; the
/// scope value has commas inside quotes, so a plain split is wrong).
pub fn parse_challenge(s: &str) -> (String, HashMap<String, String>) {
    let s = s.trim();
    let (scheme, rest) = s.split_once(' ').unwrap_or((s, ""));
    let mut params = HashMap::new();
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        let key = rest[ks..i].trim().to_ascii_lowercase();
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i += 1;
        let mut val = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                let ch_len = rest[i..].chars().next().map_or(1, char::len_utf8);
                val.push_str(&rest[i..i + ch_len]);
                i += ch_len;
            }
            i += 1;
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            val = rest[vs..i].trim().to_string();
        }
        if !key.is_empty() {
            params.insert(key, val);
        }
    }
    (scheme.to_string(), params)
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:samalba/my-app:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(s, "Basic");
        assert_eq!(p["realm"], "Registry Realm");
        let (_, p) = parse_challenge(r#"Bearer realm=x, error="a\"b""#);
        assert_eq!(p["realm"], "x");
        assert_eq!(p["error"], "a\"b");
        assert_eq!(
            encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
