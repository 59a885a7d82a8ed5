//! Running a program from a test: what it printed and whether it succeeded.

use std::process::Command;

/// What a program printed, and whether it succeeded.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// Exit status 0.
    pub ok: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<std::process::Output> for CmdOutput {
    fn from(out: std::process::Output) -> Self {
        Self {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `program ARGS`; panics when it cannot be started (for tests).
pub fn run(program: &str, args: &[&str]) -> CmdOutput {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
        .into()
}

/// Runs `program ARGS` and returns its stdout; panics with both outputs when it cannot be
/// started or fails (for tests).
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.ok,
        "{program} {args:?} failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    out.stdout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_status_of_a_program() {
        let out = run("sh", &["-c", "echo out; echo err >&2; exit 3"]);
        assert!(!out.ok);
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(run_ok("echo", &["a", "b"]), "a b\n");
    }

    #[test]
    #[should_panic(expected = "failed")]
    fn run_ok_panics_on_failure() {
        run_ok("false", &[]);
    }
}
