//! The `clef-merge` git merge driver (wired to clef-sops in a later step).
fn main() {
    std::process::exit(129);
}
