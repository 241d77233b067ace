//! Slack's external file upload: the upload URL that `files.getUploadURLExternal` hands out.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde_json::{Value, json};

use super::{Reply, Shared, State_, json_param, ok, param, slack_error};

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

/// `files.getUploadURLExternal`: a file id and the URL to send its bytes to.
pub(super) fn upload_url(state: &mut State_, params: &Value) -> Reply {
    let (filename, length) = (param(params, "filename"), param(params, "length"));
    let Ok(length) = length.parse::<usize>() else {
        return slack_error("invalid_arguments");
    };
    if filename.is_empty() || length == 0 {
        return slack_error("invalid_arguments");
    }
    let id = format!("F{:08}", state.files.len() + 1);
    let url = format!("{}/upload/{id}", state.base_url);
    state.files.insert(
        id.clone(),
        UploadedFile {
            name: filename,
            length,
            bytes: None,
            shared_in: None,
        },
    );
    ok(json!({ "ok": true, "upload_url": url, "file_id": id }))
}

/// `files.completeUploadExternal`: shares uploaded files whose bytes all arrived.
pub(super) fn complete_upload(state: &mut State_, params: &Value) -> Reply {
    let files = json_param(params, "files");
    let ids: Vec<String> = files
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let channel = param(params, "channel_id");
    if ids.is_empty() {
        return slack_error("invalid_arguments");
    }
    for id in &ids {
        match state.files.get_mut(id) {
            Some(file) if file.bytes.as_ref().is_some_and(|b| b.len() == file.length) => {
                file.shared_in = Some(channel.clone());
            }
            _ => return slack_error("file_upload_failed"),
        }
    }
    ok(json!({ "ok": true, "files": ids.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>() }))
}
