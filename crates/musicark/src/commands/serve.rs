//! `musicark serve`: the web UI and JSON API over the archive.

use std::net::SocketAddr;

use anyhow::Context;

use crate::cli::Global;

/// Serve `g.archive` on `bind` until stopped. With `fallback` (the demo),
/// a taken port is replaced by any free one on the same address and the
/// URL is announced for people (on stderr when stdout carries JSON).
pub fn run(g: &Global, bind: SocketAddr, fallback: bool) -> anyhow::Result<()> {
    let home = super::open_home(g)?;
    let app = musicark_web::App::open(home.root())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot serve {}", home.root().display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(bind).await {
            Ok(l) => l,
            Err(e) if fallback && e.kind() == std::io::ErrorKind::AddrInUse => {
                tokio::net::TcpListener::bind(SocketAddr::new(bind.ip(), 0))
                    .await
                    .with_context(|| format!("cannot listen on {}", bind.ip()))?
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot listen on {bind} (another server there? choose --bind)")
                });
            }
        };
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}/");
        if g.json && fallback {
            eprintln!("Serving the demo archive at {url}. Stop with Ctrl-C.");
        } else if g.json {
            crate::output::print_json(&serde_json::json!({
                "url": url,
                "archive": home.root().display().to_string(),
                "actions": app.actions_enabled(),
            }))?;
        } else {
            println!(
                "Serving {} at {url} ({}). Stop with Ctrl-C.",
                home.root().display(),
                if app.actions_enabled() {
                    "actions need the token of [serve] in musicark.toml"
                } else {
                    "read-only"
                }
            );
        }
        musicark_web::serve(app, listener)
            .await
            .context("the web server stopped")
    })
}
