//! The OpenAPI 3.0 document of the API, served at `/openapi.json`.
//!
//! Response and request schemas are derived (schemars) from the very types
//! the handlers serialise, so the document cannot drift from the answers;
//! the paths and their parameters are listed here.

use schemars::JsonSchema;
use schemars::generate::{Contract, SchemaGenerator, SchemaSettings};
use serde_json::{Value, json};

use crate::api::ApiErrorBody;
use crate::model;

struct Param {
    name: &'static str,
    location: &'static str,
    required: bool,
    schema: Value,
    description: &'static str,
}

fn id_param(what: &'static str) -> Param {
    Param {
        name: "id",
        location: "path",
        required: true,
        schema: json!({"type": "integer", "format": "int64"}),
        description: what,
    }
}

fn op(
    err: &Value,
    summary: &str,
    params: Vec<Param>,
    ok: Value,
    errors: &[u16],
    auth: bool,
    body: Option<Value>,
) -> Value {
    let mut responses = serde_json::Map::new();
    // Any request may carry too long a URL.
    let errors: Vec<u16> = errors.iter().copied().chain([414]).collect();
    responses.insert(
        "200".into(),
        json!({"description": "OK", "content": {"application/json": {"schema": ok}}}),
    );
    for code in &errors {
        let description = match code {
            400 => "Bad request: a parameter is missing, malformed or out of bounds",
            401 => "The action needs `Authorization: Bearer TOKEN`",
            403 => "Actions are disabled (no token configured)",
            404 => "Not found",
            409 => "The archive is busy (another musicark holds its writer lock)",
            413 => "Request body too large",
            414 => "URL too long",
            415 => "Body must be JSON",
            _ => "Error",
        };
        responses.insert(
            code.to_string(),
            json!({"description": description, "content": {"application/json": {"schema": err}}}),
        );
    }
    let mut o = json!({
        "summary": summary,
        "parameters": params.iter().map(|p| json!({
            "name": p.name, "in": p.location, "required": p.required,
            "description": p.description, "schema": p.schema,
        })).collect::<Vec<_>>(),
        "responses": responses,
    });
    if auth {
        o["security"] = json!([{"token": []}]);
    }
    if let Some(b) = body {
        o["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": b}}});
    }
    o
}

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    serde_json::to_value(g.subschema_for::<T>()).unwrap_or(Value::Null)
}

/// The whole document.
pub fn document() -> Value {
    let mut g = SchemaSettings::openapi3()
        .with(|s| s.contract = Contract::Serialize)
        .into_generator();
    // Requests are read by their Deserialize side.
    let mut req = SchemaSettings::openapi3().into_generator();
    let q = |name: &'static str, required: bool, schema: Value, description: &'static str| Param {
        name,
        location: "query",
        required,
        schema,
        description,
    };
    let text = |max: usize| json!({"type": "string", "maxLength": max});
    let err = schema::<ApiErrorBody>(&mut g);
    let mut paths = serde_json::Map::new();
    let mut add = |path: &str, method: &str, o: Value| {
        paths
            .entry(path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|m| m.insert(method.to_string(), o));
    };
    add(
        "/api/status",
        "get",
        op(
            &err,
            "What the archive holds (as `musicark status --json`)",
            vec![],
            schema::<musicark_swarm::health::StatusReport>(&mut g),
            &[],
            false,
            None,
        ),
    );
    add(
        "/api/dashboard",
        "get",
        op(
            &err,
            "Status, coverage, health summary and recent activity",
            vec![],
            schema::<model::Dashboard>(&mut g),
            &[],
            false,
            None,
        ),
    );
    add(
        "/api/search",
        "get",
        op(
            &err,
            "Ranked catalogue search with preserved/published badges",
            vec![
                q("q", true, text(crate::MAX_QUERY_CHARS), "Words to look for"),
                q(
                    "limit",
                    false,
                    json!({"type": "integer", "minimum": 1, "maximum": 100}),
                    "Hits to return (default 25)",
                ),
            ],
            schema::<model::SearchResult>(&mut g),
            &[400],
            false,
            None,
        ),
    );
    add(
        "/api/lookup",
        "get",
        op(
            &err,
            "Recordings by MBID, ISRC, barcode or rec:ID (as `catalog show --json`)",
            vec![q("q", true, text(crate::MAX_QUERY_CHARS), "An identifier")],
            schema::<Vec<musicark_catalog::RecordingView>>(&mut g),
            &[400],
            false,
            None,
        ),
    );
    add(
        "/api/recordings/{id}",
        "get",
        op(
            &err,
            "A recording: identifiers, matches and evidence, preserved copies, where they are, health",
            vec![id_param("Internal recording id")],
            schema::<model::RecordingPage>(&mut g),
            &[400, 404],
            false,
            None,
        ),
    );
    add(
        "/api/artists/{id}",
        "get",
        op(
            &err,
            "An artist and the recordings credited to them",
            vec![id_param("Internal artist id")],
            schema::<model::ArtistPage>(&mut g),
            &[400, 404],
            false,
            None,
        ),
    );
    add(
        "/api/releases/{id}",
        "get",
        op(
            &err,
            "A release and its tracks",
            vec![id_param("Internal release id")],
            schema::<model::ReleasePage>(&mut g),
            &[400, 404],
            false,
            None,
        ),
    );
    add(
        "/api/torrents",
        "get",
        op(
            &err,
            "Published torrents (the list's fields) with health colours",
            vec![
                q(
                    "kind",
                    false,
                    json!({"type": "string", "enum": ["audio", "metadata"]}),
                    "Audio or metadata torrents",
                ),
                q("band", false, text(40), "A popularity band"),
                q(
                    "health",
                    false,
                    json!({"type": "string", "enum": musicark_swarm::health::Health::ALL.map(|h| h.as_str())}),
                    "Health colour",
                ),
                q(
                    "obsolete",
                    false,
                    json!({"type": "boolean"}),
                    "Include obsolete torrents",
                ),
                q(
                    "q",
                    false,
                    text(crate::MAX_QUERY_CHARS),
                    "Words of the name",
                ),
            ],
            schema::<Vec<model::TorrentRow>>(&mut g),
            &[400],
            false,
            None,
        ),
    );
    add(
        "/api/torrents/{id}",
        "get",
        op(
            &err,
            "A torrent and a page of its manifest",
            vec![
                id_param("Pack id"),
                q(
                    "offset",
                    false,
                    json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": i64::MAX}),
                    "First file",
                ),
            ],
            schema::<model::TorrentPage>(&mut g),
            &[400, 404],
            false,
            None,
        ),
    );
    add(
        "/api/coverage",
        "get",
        op(
            &err,
            "Coverage report (as `report coverage --json`)",
            vec![],
            schema::<musicark_publish::coverage::Coverage>(&mut g),
            &[],
            false,
            None,
        ),
    );
    add(
        "/api/recordings/{id}/holders",
        "get",
        op(
            &err,
            "Who holds a recording over every followed list and ours (as `where --federated --json`)",
            vec![id_param("Recording id")],
            schema::<musicark_follow::view::RecordingHolders>(&mut g),
            &[400],
            false,
            None,
        ),
    );
    add(
        "/api/federation",
        "get",
        op(
            &err,
            "Federated coverage over every followed list and our own (as `report coverage --federated --json`)",
            vec![],
            schema::<musicark_follow::view::FederatedCoverage>(&mut g),
            &[],
            false,
            None,
        ),
    );
    add(
        "/api/wanted",
        "get",
        op(
            &err,
            "What nobody holds, most listened first (as `wanted list --json`)",
            vec![
                q(
                    "q",
                    false,
                    json!({"type": "string"}),
                    "Only recordings whose title, artist, MBID or ISRC holds this",
                ),
                q(
                    "limit",
                    false,
                    json!({"type": "integer", "minimum": 1, "maximum": crate::api::MAX_WANTED}),
                    "At most this many (default 100)",
                ),
            ],
            schema::<crate::api::WantedPage>(&mut g),
            &[400],
            false,
            None,
        ),
    );
    add(
        "/api/health",
        "get",
        op(
            &err,
            "Seeding health of every active torrent (as `health show --json`)",
            vec![],
            schema::<musicark_swarm::health::HealthReport>(&mut g),
            &[],
            false,
            None,
        ),
    );
    add(
        "/api/seedplan",
        "get",
        op(
            &err,
            "What a donor with BUDGET of disk should seed (as `seedplan --format json`)",
            vec![
                q(
                    "budget",
                    true,
                    json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": i64::MAX, "example": 500_000_000_000u64}),
                    "Disk to give, in bytes",
                ),
                q("donor", false, text(100), "A stable donor id"),
            ],
            schema::<musicark_swarm::health::SeedPlan>(&mut g),
            &[400],
            false,
            None,
        ),
    );
    add(
        "/api/damaged",
        "get",
        op(
            &err,
            "Damaged, unsupported and unreadable files (as `report damaged --json`)",
            vec![],
            schema::<musicark_store::DamagedReport>(&mut g),
            &[],
            false,
            None,
        ),
    );
    add(
        "/api/review",
        "get",
        op(
            &err,
            "Matches waiting for a decision, with candidates",
            vec![],
            schema::<Vec<model::ReviewItem>>(&mut g),
            &[],
            false,
            None,
        ),
    );
    add(
        "/api/rights",
        "get",
        op(
            &err,
            "Rights: preserved copies by licence, what the policy publishes, takedowns and embargoes (as `rights report --json`)",
            vec![],
            schema::<musicark_publish::rights::RightsReport>(&mut g),
            &[],
            false,
            None,
        ),
    );
    add(
        "/api/rights/log",
        "get",
        op(
            &err,
            "The append-only log of takedowns, embargoes and their reversals (as `rights log --json`)",
            vec![],
            schema::<Vec<musicark_publish::rights::LogEntry>>(&mut g),
            &[],
            false,
            None,
        ),
    );
    add(
        "/api/actions/scrape",
        "post",
        op(
            &err,
            "Scrape every active torrent's trackers now",
            vec![],
            schema::<musicark_swarm::health::ScrapeReport>(&mut g),
            &[401, 403, 409],
            true,
            None,
        ),
    );
    let body =
        serde_json::to_value(req.subschema_for::<model::RightsAction>()).unwrap_or(Value::Null);
    add(
        "/api/actions/rights",
        "post",
        op(
            &err,
            "Take a recording down, embargo it, or reverse either: logged in the rights log and applied at once (the torrents holding it become obsolete and replacements are packed), as `musicark takedown` does",
            vec![],
            schema::<model::RightsApplied>(&mut g),
            &[400, 401, 403, 404, 409, 413],
            true,
            Some(body),
        ),
    );
    let mut schemas = g.take_definitions(true);
    schemas.extend(req.take_definitions(true));
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "musicark",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A music preservation archive: catalogue, preserved copies, published torrents, seeding health. Read-only unless the archive configures a token for actions.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
    })
}
