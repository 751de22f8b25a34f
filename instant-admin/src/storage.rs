//! Storage: upload, delete, list and download URLs (`db.storage()`).

use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::client::{AuthMode, Call, Payload, Repeat};
use crate::{Error, Instant};

/// What to upload.
pub enum UploadSource {
    /// Bytes in memory (retried like any safe request).
    Bytes(Bytes),
    /// A file on disk, opened and streamed at upload time.
    Path(PathBuf),
    /// An async reader of exactly `size` bytes, streamed (sent once, never retried).
    Reader {
        /// The reader.
        reader: Pin<Box<dyn AsyncRead + Send + Sync>>,
        /// Its length in bytes (sent as `content-length`).
        size: u64,
    },
}

impl std::fmt::Debug for UploadSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadSource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            UploadSource::Path(p) => f.debug_tuple("Path").field(p).finish(),
            UploadSource::Reader { size, .. } => write!(f, "Reader({size} bytes)"),
        }
    }
}

impl UploadSource {
    /// A file on disk.
    pub fn path(p: impl Into<PathBuf>) -> UploadSource {
        UploadSource::Path(p.into())
    }

    /// An async reader of `size` bytes.
    pub fn reader(r: impl AsyncRead + Send + Sync + 'static, size: u64) -> UploadSource {
        UploadSource::Reader {
            reader: Box::pin(r),
            size,
        }
    }
}

impl From<Vec<u8>> for UploadSource {
    fn from(v: Vec<u8>) -> UploadSource {
        UploadSource::Bytes(Bytes::from(v))
    }
}
impl From<&[u8]> for UploadSource {
    fn from(v: &[u8]) -> UploadSource {
        UploadSource::Bytes(Bytes::copy_from_slice(v))
    }
}
impl From<Bytes> for UploadSource {
    fn from(v: Bytes) -> UploadSource {
        UploadSource::Bytes(v)
    }
}
impl From<&str> for UploadSource {
    /// The string's bytes (not a path: use [`UploadSource::path`]).
    fn from(v: &str) -> UploadSource {
        UploadSource::Bytes(Bytes::copy_from_slice(v.as_bytes()))
    }
}

/// Metadata of an upload.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct FileOptions {
    /// `content-type`; when absent the server sniffs it.
    pub content_type: Option<String>,
    /// `content-disposition`.
    pub content_disposition: Option<String>,
}

impl FileOptions {
    /// No metadata.
    pub fn new() -> FileOptions {
        FileOptions::default()
    }
    /// Sets the content type.
    pub fn content_type(mut self, ct: impl Into<String>) -> Self {
        self.content_type = Some(ct.into());
        self
    }
    /// Sets the content disposition.
    pub fn content_disposition(mut self, cd: impl Into<String>) -> Self {
        self.content_disposition = Some(cd.into());
        self
    }
}

/// The answer of an upload: the `$files` id and whatever else the server said.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UploadedFile {
    /// The `$files` entity id.
    pub id: String,
    /// Other keys (`location-id`, `size`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `$files` entity, as [`Storage::list`] returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FileRecord {
    /// The entity id.
    pub id: String,
    /// The file path.
    #[serde(default)]
    pub path: Option<String>,
    /// A signed download URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Size in bytes.
    #[serde(default)]
    pub size: Option<Value>,
    /// Content type.
    #[serde(rename = "content-type", default)]
    pub content_type: Option<String>,
    /// Other keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An entry of the legacy listing endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LegacyFile {
    /// Storage key.
    #[serde(default)]
    pub key: Option<String>,
    /// The file path.
    #[serde(default)]
    pub name: Option<String>,
    /// Size in bytes.
    #[serde(default)]
    pub size: Option<Value>,
    /// Other keys (`etag`, `last_modified`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

#[derive(Deserialize)]
struct DeletedId {
    id: Option<String>,
}

#[derive(Deserialize)]
struct DeletedIds {
    ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct FilesAnswer {
    #[serde(rename = "$files", default)]
    files: Vec<FileRecord>,
}

/// The storage API. Uploads and deletes use the client's impersonation, if any.
#[derive(Debug, Clone)]
pub struct Storage {
    db: Instant,
}

impl Instant {
    /// The storage API.
    pub fn storage(&self) -> Storage {
        Storage { db: self.clone() }
    }
}

fn reader_stream(
    reader: Pin<Box<dyn AsyncRead + Send + Sync>>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static {
    futures::stream::unfold(Some(reader), |state| async move {
        let mut r = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(r)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

impl Storage {
    /// Uploads a file to `path` (`PUT /admin/storage/upload`); re-uploading a path replaces it.
    pub async fn upload_file(
        &self,
        path: &str,
        source: impl Into<UploadSource>,
        opts: FileOptions,
    ) -> Result<UploadedFile, Error> {
        if path.trim().is_empty() {
            return Err(Error::InvalidInput("the file path is empty".to_owned()));
        }
        let mut call = Call::new(Method::PUT, "/admin/storage/upload", AuthMode::Scoped);
        call.json_content_type = false;
        call.headers.push(("path", path.to_owned()));
        if let Some(cd) = opts.content_disposition.filter(|s| !s.is_empty()) {
            call.headers.push(("content-disposition", cd));
        }
        if let Some(ct) = opts.content_type.filter(|s| !s.is_empty()) {
            call.headers.push(("content-type", ct));
        }
        match source.into() {
            UploadSource::Bytes(b) => {
                call.payload = Payload::Bytes(b);
            }
            UploadSource::Path(p) => {
                let file = tokio::fs::File::open(&p).await.map_err(|e| {
                    Error::InvalidInput(format!("cannot open {}: {e}", p.display()))
                })?;
                let size = file
                    .metadata()
                    .await
                    .map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", p.display())))?
                    .len();
                call.headers.push(("content-length", size.to_string()));
                call.payload = Payload::Stream(Some(reqwest::Body::wrap_stream(reader_stream(
                    Box::pin(file),
                ))));
                call.repeat = Repeat::Unsafe;
            }
            UploadSource::Reader { reader, size } => {
                call.headers.push(("content-length", size.to_string()));
                call.payload =
                    Payload::Stream(Some(reqwest::Body::wrap_stream(reader_stream(reader))));
                call.repeat = Repeat::Unsafe;
            }
        }
        let a: Data<UploadedFile> = self.db.call_decode(call).await?;
        Ok(a.data)
    }

    /// Deletes a file by path (`DELETE /admin/storage/files`); the deleted id, `None` if there
    /// was no such file. (Deleting the `$files` entity in a transaction works too.)
    pub async fn delete(&self, path: &str) -> Result<Option<String>, Error> {
        let call = Call::new(Method::DELETE, "/admin/storage/files", AuthMode::Scoped)
            .param("filename", path);
        let a: Data<DeletedId> = self.db.call_decode(call).await?;
        Ok(a.data.id)
    }

    /// Deletes several files by path (`POST /admin/storage/files/delete`); the deleted ids.
    pub async fn delete_many<S: AsRef<str>>(&self, paths: &[S]) -> Result<Vec<String>, Error> {
        let names: Vec<&str> = paths.iter().map(AsRef::as_ref).collect();
        let call = Call::new(
            Method::POST,
            "/admin/storage/files/delete",
            AuthMode::Scoped,
        )
        .json(&json!({ "filenames": names }))?;
        let a: Data<DeletedIds> = self.db.call_decode(call).await?;
        Ok(a.data.ids.unwrap_or_default())
    }

    /// Lists files through the `$files` namespace (the recommended way), with signed URLs.
    pub async fn list(&self) -> Result<Vec<FileRecord>, Error> {
        let a: FilesAnswer = self
            .db
            .query(crate::TypedQuery::<FilesAnswer>::new(json!({"$files": {}})))
            .await?;
        Ok(a.files)
    }

    /// Lists files through the legacy endpoint (`GET /admin/storage/files`, admin only).
    pub async fn list_legacy(&self) -> Result<Vec<LegacyFile>, Error> {
        let call = Call::new(Method::GET, "/admin/storage/files", AuthMode::Admin);
        let a: Data<Option<Vec<LegacyFile>>> = self.db.call_decode(call).await?;
        Ok(a.data.unwrap_or_default())
    }

    /// A signed download URL for a path (`GET /admin/storage/signed-download-url`, admin only).
    pub async fn download_url(&self, path: &str) -> Result<String, Error> {
        let call = Call::new(
            Method::GET,
            "/admin/storage/signed-download-url",
            AuthMode::Admin,
        )
        .param("filename", path);
        let a: Data<String> = self.db.call_decode(call).await?;
        Ok(a.data)
    }

    /// Uploads through a single-use signed URL (the older two-step flow of the official SDK):
    /// asks for the URL (`POST /admin/storage/signed-upload-url`, admin only), then `PUT`s the
    /// bytes there without credentials. Returns whether the second request succeeded (2xx).
    pub async fn upload_with_signed_url(
        &self,
        path: &str,
        bytes: impl Into<Bytes>,
        content_type: Option<&str>,
    ) -> Result<bool, Error> {
        let call = Call::new(
            Method::POST,
            "/admin/storage/signed-upload-url",
            AuthMode::Admin,
        )
        .json(&json!({ "app_id": self.db.app_id(), "filename": path }))?;
        let a: Data<String> = self.db.call_decode(call).await?;
        let url = reqwest::Url::parse(&a.data)
            .map_err(|e| Error::decode(format!("bad signed upload URL: {e}")))?;
        let mut rb = self.db.inner.http.put(url).body(bytes.into());
        if let Some(ct) = content_type.filter(|c| !c.is_empty()) {
            rb = rb.header(reqwest::header::CONTENT_TYPE, ct);
        }
        if let Some(t) = self.db.inner.timeout {
            rb = rb.timeout(t);
        }
        let resp = rb.send().await.map_err(|e| Error::transport(&e, None))?;
        Ok(resp.status().is_success())
    }
}
