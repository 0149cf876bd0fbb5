//! Conventions the code keeps (rust-analyzer's tidy test): every Rust file
//! says what it is for in a `//!` header, no test expects a panic (the
//! should-panic attribute), and library code never unwraps.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_rust_file_has_a_header_and_no_hidden_panics() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "fuzz/fuzz_targets"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 40, "found only {} files", files.len());
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let name = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        if !text.starts_with("//!") {
            problems.push(format!("{name}: does not start with a //! header"));
        }
        if text.contains(concat!("#[should", "_panic")) {
            problems.push(format!("{name}: a should-panic test"));
        }
        let library = name.contains("/src/") && !name.starts_with("xtask");
        if library {
            // Test modules at the end of a file may unwrap; library code not.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            if code.contains(concat!(".unwrap", "()")) {
                problems.push(format!("{name}: .unwrap() in library code"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
