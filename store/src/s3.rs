//! The master dataset in an S3 bucket, or on an S3-compatible server such as moto or MinIO.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use tracing::{debug, warn};

use crate::{StoreError, check_key, check_prefix, path_problem};

/// The region used when none is configured: moto and MinIO accept any, and it is S3's oldest.
const DEFAULT_REGION: &str = "us-east-1";

/// How often a conditional write is tried while S3 answers that another conditional write to
/// the same key is in flight (409 `ConditionalRequestConflict`).
const CONFLICT_ATTEMPTS: u32 = 3;

/// The pause before the next such attempt, growing with each one.
const CONFLICT_PAUSE: Duration = Duration::from_millis(200);

/// A master dataset kept in an S3 bucket, under an optional key prefix. Reached through
/// [`crate::Store`]; clones share one client.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// Put before every key: empty, or a path ending in `/`.
    prefix: String,
    location: String,
    /// Cleared, for every clone, once the server answers that it cannot do conditional writes.
    conditional_writes: Arc<AtomicBool>,
}

impl S3Store {
    /// Opens `bucket` or `bucket/prefix` (the part of the location after `s3://`). Nothing is
    /// sent to the server yet.
    pub(crate) async fn open(bucket_and_prefix: &str) -> Result<Self, StoreError> {
        Self::with_client(client().await, bucket_and_prefix)
    }

    fn with_client(client: Client, bucket_and_prefix: &str) -> Result<Self, StoreError> {
        let (bucket, prefix) = bucket_and_prefix
            .split_once('/')
            .unwrap_or((bucket_and_prefix, ""));
        let prefix = prefix.strip_suffix('/').unwrap_or(prefix);

        let invalid = |reason: String| StoreError::InvalidLocation {
            location: format!("s3://{bucket_and_prefix}"),
            reason,
        };
        if bucket.is_empty() {
            let reason = "the URL names no bucket; write `s3://bucket` or `s3://bucket/prefix`";
            return Err(invalid(reason.to_owned()));
        }
        if let Some(problem) = path_problem(prefix).filter(|_| !prefix.is_empty()) {
            return Err(invalid(format!(
                "the prefix cannot be used as a key path: {problem}"
            )));
        }

        let (location, prefix) = if prefix.is_empty() {
            (format!("s3://{bucket}"), String::new())
        } else {
            (format!("s3://{bucket}/{prefix}"), format!("{prefix}/"))
        };
        debug!(store = %location, "opened");
        Ok(S3Store {
            client,
            bucket: bucket.to_owned(),
            prefix,
            location,
            conditional_writes: Arc::new(AtomicBool::new(true)),
        })
    }

    /// The bucket's name.
    #[must_use]
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix every key of this store is stored under: empty, or ending in `/`.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    pub(crate) async fn list_after(
        &self,
        prefix: &str,
        start_after: &str,
    ) -> Result<Vec<String>, StoreError> {
        check_prefix(&self.location, prefix)?;

        let full_prefix = self.full_key(prefix);
        // After the first page the continuation token carries the position, so StartAfter is
        // sent only once.
        let mut start_after = Some(start_after)
            .filter(|start| !start.is_empty())
            .map(|start| self.full_key(start));
        let mut continuation = None;
        let mut keys = Vec::new();
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full_prefix)
                .set_start_after(start_after.take())
                .set_continuation_token(continuation.take())
                .send()
                .await
                .map_err(|error| self.error("list", prefix, &error))?;

            let page_keys = page.contents().iter().filter_map(|object| object.key());
            keys.extend(page_keys.filter_map(|key| self.relative_key(key)));

            match page.next_continuation_token() {
                Some(token) if page.is_truncated() == Some(true) => {
                    continuation = Some(token.to_owned());
                }
                _ => break,
            }
        }

        // S3 already lists in byte-wise order; sorting keeps the promise for servers that don't.
        keys.sort_unstable();
        debug!(store = %self.location, %prefix, keys = keys.len(), "listed");
        Ok(keys)
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        check_key(&self.location, key)?;

        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key));
        let output = match request.send().await {
            Ok(output) => output,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(GetObjectError::is_no_such_key) =>
            {
                return Err(self.not_found(key));
            }
            Err(error) => return Err(self.error("get", key, &error)),
        };

        let body = output
            .body
            .collect()
            .await
            .map_err(|error| StoreError::S3 {
                location: self.location.clone(),
                key: key.to_owned(),
                action: "read the body of",
                cause: causes(&error),
                hint: "the connection broke mid-object; try again",
            })?;
        let body = body.into_bytes();
        debug!(store = %self.location, %key, bytes = body.len(), "read");
        Ok(body)
    }

    pub(crate) async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), StoreError> {
        check_key(&self.location, key)?;

        let bytes = body.len();
        self.put_object(key, body, content_type, None, false)
            .await
            .map_err(|error| self.error("put", key, &error))?;
        debug!(store = %self.location, %key, bytes, "put");
        Ok(())
    }

    pub(crate) async fn put_served(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        cache_control: &str,
    ) -> Result<(), StoreError> {
        check_key(&self.location, key)?;

        let bytes = body.len();
        self.put_object(key, body, content_type, Some(cache_control), false)
            .await
            .map_err(|error| self.error("put", key, &error))?;
        debug!(store = %self.location, %key, bytes, cache_control, "put");
        Ok(())
    }

    pub(crate) async fn put_new(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<bool, StoreError> {
        check_key(&self.location, key)?;

        if let Some(written) = self.put_if_absent(key, body.clone(), content_type).await? {
            return Ok(written);
        }

        // LIMITATION: on a server without conditional writes, another writer can create the key
        // between this HEAD and this PUT, and the PUT then replaces that writer's object. It
        // bites only when two writers race for the same key against such a server.
        if self.exists(key).await? {
            return Ok(false);
        }
        self.put(key, body, content_type).await?;
        Ok(true)
    }

    /// PUT with `If-None-Match: *`: `Some(true)` when written, `Some(false)` when the key was
    /// taken, `None` when the server does not support conditional writes (known from an earlier
    /// answer, or learnt from this one).
    async fn put_if_absent(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<Option<bool>, StoreError> {
        if !self.conditional_writes.load(Ordering::Relaxed) {
            return Ok(None);
        }

        for attempt in 1..=CONFLICT_ATTEMPTS {
            let error = match self
                .put_object(key, body.clone(), content_type, None, true)
                .await
            {
                Ok(()) => {
                    debug!(store = %self.location, %key, bytes = body.len(), "put new");
                    return Ok(Some(true));
                }
                Err(error) => error,
            };

            let status = error
                .raw_response()
                .map(|response| response.status().as_u16());
            match (status, error.code()) {
                (Some(412), _) => {
                    debug!(store = %self.location, %key, "kept the existing object");
                    return Ok(Some(false));
                }
                (Some(409), _) if attempt < CONFLICT_ATTEMPTS => {
                    warn!(
                        store = %self.location,
                        %key,
                        attempt,
                        "another conditional write to the key is in flight; retrying"
                    );
                    tokio::time::sleep(CONFLICT_PAUSE * attempt).await;
                }
                (Some(501), _) | (_, Some("NotImplemented")) => {
                    if self.conditional_writes.swap(false, Ordering::Relaxed) {
                        warn!(
                            store = %self.location,
                            "the S3 server cannot write conditionally (If-None-Match); \
                             falling back to check-then-write, which can race"
                        );
                    }
                    return Ok(None);
                }
                _ => return Err(self.error("put", key, &error)),
            }
        }
        unreachable!("the last attempt returns whatever the server answers")
    }

    async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        cache_control: Option<&str>,
        only_if_absent: bool,
    ) -> Result<(), SdkError<PutObjectError, HttpResponse>> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .content_type(content_type)
            .set_cache_control(cache_control.map(str::to_owned))
            .set_if_none_match(only_if_absent.then(|| "*".to_owned()))
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
    }

    pub(crate) async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        check_key(&self.location, key)?;

        let request = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full_key(key));
        match request.send().await {
            Ok(_) => Ok(true),
            // A HEAD answer has no body, so a missing bucket looks the same as a missing key
            // here; get, put and list name the bucket when it is missing.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(HeadObjectError::is_not_found) =>
            {
                Ok(false)
            }
            Err(error) => Err(self.error("check", key, &error)),
        }
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The store's key for a key in the bucket, or `None` for one that is not an object of the
    /// store: outside its prefix, or a zero-byte "folder" marker (`raw/`) made by a console.
    fn relative_key(&self, full_key: &str) -> Option<String> {
        full_key
            .strip_prefix(&self.prefix)
            .filter(|key| !key.is_empty() && !key.ends_with('/'))
            .map(str::to_owned)
    }

    fn not_found(&self, key: &str) -> StoreError {
        StoreError::NotFound {
            location: self.location.clone(),
            key: key.to_owned(),
        }
    }

    fn error<E>(
        &self,
        action: &'static str,
        key: &str,
        error: &SdkError<E, HttpResponse>,
    ) -> StoreError
    where
        E: Error + ProvideErrorMetadata + 'static,
    {
        StoreError::S3 {
            location: self.location.clone(),
            key: key.to_owned(),
            action,
            cause: causes(error),
            hint: hint(error),
        }
    }
}

/// Every cause in `error`'s chain, outermost first: `service error: unhandled error
/// (NoSuchBucket): ...` or `dispatch failure: ...: Connection refused`.
///
/// This is the first half of what the SDK's `DisplayErrorContext` prints. Its second half, the
/// error's `Debug` form, is left out: it carries the raw response, whose body names the access
/// key id for some S3 errors (`SignatureDoesNotMatch`, `InvalidAccessKeyId`).
fn causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Builds the S3 client from the usual AWS settings (environment, profile, instance role).
async fn client() -> Client {
    let region =
        RegionProviderChain::default_provider().or_else(Region::from_static(DEFAULT_REGION));
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .load()
        .await;

    let mut config = aws_sdk_s3::config::Builder::from(&shared);
    // moto and MinIO serve all buckets from one host and cannot route virtual-hosted requests
    // (`bucket.host`), so a custom endpoint gets path-style addressing (`host/bucket`). Real S3
    // accepts both, and without an endpoint the SDK's default works best there. The shared
    // config knows only the general AWS_ENDPOINT_URL; the S3-only variable is read by the S3
    // config itself, so it is looked at here too.
    let custom_endpoint =
        shared.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    if custom_endpoint {
        config = config.force_path_style(true);
    }
    Client::from_conf(config.build())
}

/// What to try first after `error`.
fn hint<E>(error: &SdkError<E, HttpResponse>) -> &'static str
where
    E: Error + ProvideErrorMetadata + 'static,
{
    if lacks_credentials(error) {
        return "give credentials the usual AWS ways (AWS_ACCESS_KEY_ID and \
                AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)";
    }
    if matches!(
        error,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
    ) {
        return "check AWS_ENDPOINT_URL (if set) and that the S3 server is up and reachable";
    }
    match error.code() {
        Some("NoSuchBucket") => "check the bucket name, or create the bucket",
        Some(
            "AccessDenied"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "InvalidToken",
        ) => "check the credentials (AWS_ACCESS_KEY_ID or AWS_PROFILE) and the bucket's policy",
        Some("PermanentRedirect" | "AuthorizationHeaderMalformed") => {
            "set AWS_REGION to the bucket's region"
        }
        _ => "check the bucket name, AWS_REGION, AWS_ENDPOINT_URL and the credentials",
    }
}

/// Whether `error` comes from finding no credentials to sign the request with.
fn lacks_credentials(error: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.downcast_ref::<CredentialsError>().is_some() {
            return true;
        }
        cause = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Mutex;
    use std::thread;

    use aws_sdk_s3::config::Credentials;

    use super::*;

    /// One request as the fake server saw it: method, path, and whether it was conditional.
    type Seen = (String, String, bool);

    /// An answer to a GET, in the shape real S3 gives when the secret key is wrong.
    const SIGNATURE_MISMATCH: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <Error><Code>SignatureDoesNotMatch</Code>\
        <Message>The request signature we calculated does not match the signature you provided.\
        </Message><AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId></Error>";

    /// An S3 stand-in that cannot write conditionally: it answers 501 to `If-None-Match`, as
    /// some S3-compatible servers do, keeps track of which keys were written, and refuses
    /// every GET with [`SIGNATURE_MISMATCH`].
    fn server_without_conditional_writes() -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let seen = Arc::new(Mutex::new(Vec::new()));

        let log = Arc::clone(&seen);
        thread::spawn(move || {
            let mut written = HashSet::new();
            for connection in listener.incoming() {
                let Ok(connection) = connection else { return };
                let request = read_request(&connection);
                let (status, body) = match (request.0.as_str(), request.2) {
                    ("PUT", true) => ("501 Not Implemented", ""),
                    ("PUT", false) => {
                        written.insert(request.1.clone());
                        ("200 OK", "")
                    }
                    ("HEAD", _) if written.contains(&request.1) => ("200 OK", ""),
                    ("GET", _) => ("403 Forbidden", SIGNATURE_MISMATCH),
                    _ => ("404 Not Found", ""),
                };
                log.lock().expect("the log").push(request);
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = (&connection).write_all(response.as_bytes());
            }
        });

        (format!("http://{address}"), seen)
    }

    /// Reads one request, body included; each connection carries one (the server closes it).
    fn read_request(connection: &TcpStream) -> Seen {
        let mut reader = BufReader::new(connection);
        let mut line = String::new();
        reader.read_line(&mut line).expect("a request line");
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let path = path.split('?').next().unwrap_or_default().to_owned();

        let (mut length, mut conditional) = (0, false);
        loop {
            line.clear();
            reader.read_line(&mut line).expect("a header line");
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break;
            };
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().expect("a length"),
                "if-none-match" => conditional = true,
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("the body");
        (method, path, conditional)
    }

    fn store_at(endpoint: String) -> S3Store {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::from_static(DEFAULT_REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .force_path_style(true)
            .build();
        S3Store::with_client(Client::from_conf(config), "bucket/master").expect("a valid location")
    }

    #[tokio::test]
    async fn put_new_falls_back_to_check_then_write_without_conditional_writes() {
        let (endpoint, seen) = server_without_conditional_writes();
        let store = store_at(endpoint);
        let key = "raw/2017/03/02/05/x.ndjson";

        assert!(
            store
                .put_new(key, Bytes::from("first"), "text/plain")
                .await
                .expect("put_new")
        );
        assert!(
            !store
                .put_new(key, Bytes::from("second"), "text/plain")
                .await
                .expect("put_new")
        );

        let path = "/bucket/master/raw/2017/03/02/05/x.ndjson".to_owned();
        let expected = [
            ("PUT".to_owned(), path.clone(), true),
            ("HEAD".to_owned(), path.clone(), false),
            ("PUT".to_owned(), path.clone(), false),
            // Once refused, conditional writes are not tried again.
            ("HEAD".to_owned(), path, false),
        ];
        assert_eq!(*seen.lock().expect("the log"), expected);
    }

    #[tokio::test]
    async fn errors_name_the_cause_but_not_the_access_key() {
        let (endpoint, _) = server_without_conditional_writes();
        let store = store_at(endpoint);

        let error = store.get("batch/CURRENT").await.unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, StoreError::S3 { .. }), "{message}");
        assert!(message.contains("SignatureDoesNotMatch"), "{message}");
        assert!(message.contains("s3://bucket/master"), "{message}");
        assert!(message.contains("`batch/CURRENT`"), "{message}");
        assert!(message.contains("check the credentials"), "{message}");
        assert!(!message.contains("AKIA"), "{message}");
    }

    /// A credentials provider that finds none, as on a machine without any.
    #[derive(Debug)]
    struct NoCredentials;

    impl aws_credential_types::provider::ProvideCredentials for NoCredentials {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                CredentialsError::not_loaded("no credentials on this machine"),
            ))
        }
    }

    #[tokio::test]
    async fn missing_credentials_are_named_as_such() {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url("http://127.0.0.1:9")
            .region(Region::from_static(DEFAULT_REGION))
            .credentials_provider(NoCredentials)
            .build();
        let store = S3Store::with_client(Client::from_conf(config), "bucket").expect("valid");

        let message = store.get("batch/CURRENT").await.unwrap_err().to_string();
        assert!(message.contains("give credentials"), "{message}");
        assert!(!message.contains("AWS_ENDPOINT_URL"), "{message}");
    }

    #[test]
    fn locations_keep_the_prefix_as_a_folder() {
        let client = store_at("http://127.0.0.1:9".to_owned()).client;
        let store = S3Store::with_client(client.clone(), "bucket/some/prefix/").expect("valid");
        assert_eq!(store.prefix(), "some/prefix/");
        assert_eq!(store.location(), "s3://bucket/some/prefix");
        assert_eq!(
            store.relative_key("some/prefix/raw/a"),
            Some("raw/a".to_owned())
        );
        assert_eq!(store.relative_key("some/prefix/raw/"), None);
        assert_eq!(store.relative_key("some/prefixed/a"), None);

        let bare = S3Store::with_client(client.clone(), "bucket").expect("valid");
        assert_eq!((bare.prefix(), bare.location()), ("", "s3://bucket"));

        for bad in ["", "/prefix", "bucket/a//b", "bucket/../x"] {
            let error = S3Store::with_client(client.clone(), bad).unwrap_err();
            assert!(
                matches!(error, StoreError::InvalidLocation { .. }),
                "{bad}: {error}"
            );
        }
    }
}
