//! pg-clients: postgres (sync, binary COPY) against sqlx (async) on the
//! work musicark's catalogue does, against a running PostgreSQL.
//!
//!   cargo run --release -- postgres://USER@HOST:PORT/DB [ROWS]
//!
//! Prints one line per measurement; scripts/bench-pg-clients.sh runs it
//! beside psql's \copy of the same rows.

use std::io::Write;
use std::time::Instant;

const DDL: &str = "DROP TABLE IF EXISTS r; CREATE TABLE r (
    recording_id BIGINT PRIMARY KEY, mbid TEXT, title TEXT NOT NULL,
    artist_credit TEXT, length_ms BIGINT)";

fn row(i: i64) -> (i64, String, String, String, i64) {
    (
        i,
        format!("{:08x}-0000-4000-8000-{:012x}", i as u32, i),
        format!("Recording number {i} of the long tail"),
        format!("Artist {}", i % 50_000),
        180_000 + i % 120_000,
    )
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).ok_or("usage: pg-clients URL [ROWS]")?;
    let rows: i64 = args.get(2).map_or(Ok(1_000_000), |s| s.parse())?;
    let lookups = 20_000i64.min(rows);
    let upserts = 100_000i64.min(rows);

    // The text rows psql's \copy reads (the peer), written once.
    let csv = std::env::temp_dir().join("pg-clients.tsv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&csv)?);
        for i in 1..=rows {
            let (id, m, t, a, l) = row(i);
            writeln!(f, "{id}\t{m}\t{t}\t{a}\t{l}")?;
        }
    }
    println!("rows\t{rows}\tfile\t{}", csv.display());

    // postgres: binary COPY, then the primary key.
    let mut c = postgres::Client::connect(url, postgres::NoTls)?;
    c.batch_execute(&DDL.replace("PRIMARY KEY", ""))?;
    let t = Instant::now();
    let mut w = postgres::binary_copy::BinaryCopyInWriter::new(
        c.copy_in("COPY r FROM STDIN (FORMAT binary)")?,
        &[
            postgres::types::Type::INT8,
            postgres::types::Type::TEXT,
            postgres::types::Type::TEXT,
            postgres::types::Type::TEXT,
            postgres::types::Type::INT8,
        ],
    );
    for i in 1..=rows {
        let (id, m, ti, a, l) = row(i);
        w.write(&[&id, &m, &ti, &a, &l])?;
    }
    w.finish()?;
    let load = t.elapsed().as_secs_f64();
    c.batch_execute("ALTER TABLE r ADD PRIMARY KEY (recording_id)")?;
    println!(
        "postgres\tbinary COPY\t{load:.2}\ts\t+ key {:.2} s",
        t.elapsed().as_secs_f64() - load
    );

    // postgres: row-at-a-time upserts in one transaction (an import's
    // shape), prepared once.
    c.batch_execute(DDL)?;
    let t = Instant::now();
    let mut tx = c.transaction()?;
    let st = tx.prepare(
        "INSERT INTO r VALUES ($1, $2, $3, $4, $5) ON CONFLICT (recording_id) DO UPDATE SET title = excluded.title",
    )?;
    for i in 1..=upserts {
        let (id, m, ti, a, l) = row(i);
        tx.execute(&st, &[&id, &m, &ti, &a, &l])?;
    }
    tx.commit()?;
    println!(
        "postgres\tupserts\t{:.0}\trows/s",
        upserts as f64 / t.elapsed().as_secs_f64()
    );

    // postgres: point lookups by key.
    let st =
        c.prepare("SELECT mbid, title, artist_credit, length_ms FROM r WHERE recording_id = $1")?;
    let mut lat = Vec::new();
    for k in 0..lookups {
        let id = 1 + (k * 7919) % upserts;
        let t = Instant::now();
        let r = c.query_one(&st, &[&id])?;
        let _: String = r.get(1);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "postgres\tlookup\tp50 {:.0} us\tp99 {:.0} us",
        percentile(lat.clone(), 0.5),
        percentile(lat, 0.99)
    );
    drop(c);

    // sqlx: the same three, each awaited on a current-thread runtime (a
    // sync caller's view).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(url).await?;
        sqlx::raw_sql(&DDL.replace("PRIMARY KEY", "")).execute(&mut c).await?;
        let t = Instant::now();
        let mut copy = c.copy_in_raw("COPY r FROM STDIN (FORMAT text)").await?;
        let mut buf = Vec::with_capacity(1 << 20);
        for i in 1..=rows {
            let (id, m, ti, a, l) = row(i);
            writeln!(buf, "{id}\t{m}\t{ti}\t{a}\t{l}")?;
            if buf.len() > (1 << 20) - 256 {
                copy.send(std::mem::take(&mut buf)).await?;
            }
        }
        copy.send(buf).await?;
        copy.finish().await?;
        let load = t.elapsed().as_secs_f64();
        sqlx::raw_sql("ALTER TABLE r ADD PRIMARY KEY (recording_id)")
            .execute(&mut c)
            .await?;
        println!(
            "sqlx\ttext COPY\t{load:.2}\ts\t+ key {:.2} s",
            t.elapsed().as_secs_f64() - load
        );

        sqlx::raw_sql(DDL).execute(&mut c).await?;
        let t = Instant::now();
        let mut tx = c.begin().await?;
        for i in 1..=upserts {
            let (id, m, ti, a, l) = row(i);
            sqlx::query("INSERT INTO r VALUES ($1, $2, $3, $4, $5) ON CONFLICT (recording_id) DO UPDATE SET title = excluded.title")
                .bind(id).bind(m).bind(ti).bind(a).bind(l)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        println!(
            "sqlx\tupserts\t{:.0}\trows/s",
            upserts as f64 / t.elapsed().as_secs_f64()
        );

        let mut lat = Vec::new();
        for k in 0..lookups {
            let id = 1 + (k * 7919) % upserts;
            let t = Instant::now();
            let r: (Option<String>, String, Option<String>, Option<i64>) = sqlx::query_as(
                "SELECT mbid, title, artist_credit, length_ms FROM r WHERE recording_id = $1",
            )
            .bind(id)
            .fetch_one(&mut c)
            .await?;
            std::hint::black_box(r);
            lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
        println!(
            "sqlx\tlookup\tp50 {:.0} us\tp99 {:.0} us",
            percentile(lat.clone(), 0.5),
            percentile(lat, 0.99)
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}
