//! The quiet panic hook every binary installs (`clef_sops::process`): a
//! panic on any thread ends the process with the code the binary passed,
//! printing where it happened and never the message (which could quote a
//! value). Checked in a child process: this test binary runs itself again
//! with `CLEF_PANIC_HOOK_CHILD` set (a variable of this test only; no
//! binary of clef reads it).

use std::process::Command;

const CHILD: &str = "CLEF_PANIC_HOOK_CHILD";
const CANARY: &str = "s3cr3t-panic-canary-4711";

#[test]
fn a_panic_on_any_thread_exits_with_the_given_code_and_never_prints_its_message() {
    if std::env::var_os(CHILD).is_some() {
        clef_sops::process::quiet_panics("clef-test", "; nothing was changed", 77);
        let worker = std::thread::spawn(|| panic!("value {CANARY}"));
        // not reached: the hook exits the process from the worker thread
        // (were it not to, the child would pass and exit 0)
        let _ = worker.join();
        return;
    }
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "a_panic_on_any_thread_exits_with_the_given_code_and_never_prints_its_message",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run the test binary");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("clef-test: internal error at ") && err.contains("; nothing was changed"),
        "{err}"
    );
    assert!(
        !err.contains(CANARY),
        "the panic message was printed: {err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(CANARY));
}
