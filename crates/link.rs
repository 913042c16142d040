//! Link settings for the workspace's five binaries: the build script of
//! clef-cli, clef-merge, clef-hooks and clef-agent, and called from
//! clef-scan's own build script.
//!
//! On Linux with glibc the binaries are linked with packed relative
//! relocations (DT_RELR, `-z pack-relative-relocs`). A position-independent
//! binary of this size carries ~47,000 relative relocations (1.1 MB of
//! `.rela.dyn` in `clef`), which the loader reads on every start: about 280
//! page faults, more than half of a `clef --version`. Packed, they take a few
//! kilobytes. The binaries stay position independent (ASLR is kept). A linker
//! or C library without DT_RELR support leaves the relocations unpacked
//! (binutils checks that glibc provides `GLIBC_ABI_DT_RELR`, 2.36 and later).

pub fn main() {
    println!("cargo::rerun-if-changed=../link.rs");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
