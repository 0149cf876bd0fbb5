//! Keeping the archive alive: tracker scrapes (HTTP, BEP 48; UDP, BEP 15)
//! and seeding health.
//!
//! *Boundary*: writes only health rows (`scrapes`); reads packs and their
//! .torrent files.

pub mod health;
pub mod scrape;
pub mod seedplan;
