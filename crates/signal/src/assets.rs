//! The demo web app, embedded in the binary: plain HTML, CSS and JavaScript
//! from `web/`, no build step.

/// `GET /`: the page.
pub const INDEX_HTML: &str = include_str!("../web/index.html");
/// `GET /app.js`: the page's script (signaling client, calls, chat, files, stats).
pub const APP_JS: &str = include_str!("../web/app.js");
/// `GET /app.css`: the page's styles.
pub const APP_CSS: &str = include_str!("../web/app.css");
/// `GET /favicon.svg`: the icon.
pub const FAVICON_SVG: &str = include_str!("../web/favicon.svg");
