//! Print the analysis of each file given on the command line, as JSON.
fn main() {
    for arg in std::env::args_os().skip(1) {
        let a = musicark_audio::analyze_file(std::path::Path::new(&arg));
        println!(
            "{}: {}",
            std::path::Path::new(&arg).display(),
            serde_json::to_string(&a).unwrap_or_default()
        );
    }
}
