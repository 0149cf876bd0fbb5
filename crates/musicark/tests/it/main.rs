//! Integration tests of the `musicark` binary: the commands as a user runs
//! them, on collections made at test time and on the real corpus.

mod support;

mod concurrent;
mod corpus;
mod crash;
mod duplicates;
mod fingerprint;
mod follow;
mod health;
mod hosts;
mod ingest;
mod integrity;
mod matching;
mod migrate;
mod objects;
mod pagework;
mod preserve;
mod publish;
mod queue;
mod rights;
mod tidy;
mod torrent;
mod transcode;
mod web;
mod webseed;
