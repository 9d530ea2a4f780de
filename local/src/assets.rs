//! The demo page (a console of the gateway, fed by `dev/console.rs`) and the browser client it
//! loads (vendor/javascript, the files the gem ships), compiled into the binary. The client's
//! files import each other by bare specifiers ("hermes", "hermes/socket", ...): the page gets
//! the import map that resolves them.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, Uri};
use axum::response::{Html, IntoResponse, Response};

use crate::state::App;

/// Each file of the browser client: its import map entry, the path it is served at, its text
/// (vendor/javascript/hermes-NAME.js is the entry "hermes/NAME").
pub(crate) const CLIENT: &[(&str, &str, &str)] = &[
    (
        "hermes",
        "/hermes.js",
        include_str!("../../vendor/javascript/hermes.js"),
    ),
    (
        "hermes/socket",
        "/hermes-socket.js",
        include_str!("../../vendor/javascript/hermes-socket.js"),
    ),
    (
        "hermes/streams",
        "/hermes-streams.js",
        include_str!("../../vendor/javascript/hermes-streams.js"),
    ),
    (
        "hermes/turbo",
        "/hermes-turbo.js",
        include_str!("../../vendor/javascript/hermes-turbo.js"),
    ),
];

pub(crate) async fn demo_page(State(app): State<Arc<App>>) -> Response {
    let imports: serde_json::Map<String, serde_json::Value> = CLIENT
        .iter()
        .map(|(entry, path, _)| ((*entry).to_owned(), (*path).into()))
        .collect();
    let map = serde_json::json!({ "imports": imports }).to_string();
    Html(
        include_str!("demo.html")
            .replace("__IMPORTMAP__", &map)
            .replace("__STAGE__", &app.opts.stage)
            // The console's polling: development endpoints answer on the memory backend only.
            .replace("__MEMORY__", if app.memory { "true" } else { "false" }),
    )
    .into_response()
}

pub(crate) async fn client_js(uri: Uri) -> Response {
    let text = CLIENT
        .iter()
        .find(|(_, path, _)| *path == uri.path())
        .map_or("", |(_, _, text)| text);
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::CLIENT;

    /// A file added to the client and not served here would break the demo page's imports.
    #[test]
    fn every_file_of_the_client_is_served_under_its_entry() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../vendor/javascript");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|f| f.starts_with("hermes") && f.ends_with(".js") && f != "hermes-stub.js")
            .collect();
        files.sort();
        let mut served: Vec<String> = CLIENT.iter().map(|(_, path, _)| path[1..].to_owned()).collect();
        served.sort();
        assert_eq!(files, served);
        for (entry, path, _) in CLIENT {
            let name = path.trim_start_matches('/').trim_end_matches(".js");
            let want = name.replacen("hermes-", "hermes/", 1);
            assert_eq!(*entry, want, "{path}");
        }
    }
}
