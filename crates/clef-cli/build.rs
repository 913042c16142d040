//! Links `clef` as a position-dependent executable on Linux (`-no-pie`),
//! unless `CLEF_PIE=1`.
//!
//! `clef` is a short-lived command that links the AWS SDK. As a PIE, the
//! dynamic loader applies ~47,000 relative relocations at every start and
//! copies the ~800 KB of `.data.rel.ro` they land in, page by page: about
//! 270 of a `clef get`'s 600 page faults and 2 ms of its 5 ms of CPU on the
//! 2-core VM this was measured on (README, "Cloud KMS", benchmark). A
//! position-dependent `clef` has those addresses fixed at link time, like the
//! Go `sops` and `age` binaries. What it gives up is ASLR for the executable
//! image itself (the heap, stack and shared libraries stay randomised); set
//! `CLEF_PIE=1` when building to keep a PIE. `clef-agent`, the long-running
//! network service, is always a PIE.

fn main() {
    println!("cargo::rerun-if-env-changed=CLEF_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let pie = std::env::var("CLEF_PIE").is_ok_and(|v| v == "1");
    if linux && !pie {
        println!("cargo::rustc-link-arg-bin=clef=-no-pie");
    }
}
