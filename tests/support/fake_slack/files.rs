//! Slack's external file upload: the upload URL that `files.getUploadURLExternal` hands out.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Shared;

/// A file on its way through Slack's external upload.
pub(super) struct UploadedFile {
    pub(super) name: String,
    /// The length announced to `files.getUploadURLExternal`.
    pub(super) length: usize,
    pub(super) bytes: Option<Vec<u8>>,
    /// The channel `files.completeUploadExternal` shared it in.
    pub(super) shared_in: Option<String>,
}

/// The upload URL handed out by `files.getUploadURLExternal`: takes the bytes, answers like Slack.
pub(super) async fn upload(
    State(shared): State<Shared>,
    Path(file_id): Path<String>,
    body: Bytes,
) -> Response {
    let mut state = shared.state.lock().unwrap();
    let Some(file) = state.files.get_mut(&file_id) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    file.bytes = Some(body.to_vec());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        format!("OK - {}", body.len()),
    )
        .into_response()
}
