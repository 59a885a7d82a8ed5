//! Running a program from a test: what it printed and whether it succeeded.

use std::io::Write;
use std::process::{Command, Output, Stdio};

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

/// Runs `cmd` with `input` on its standard input (written from another thread, so a program that
/// answers before reading all of it cannot block) and returns what it printed; panics when it
/// cannot be started (for tests).
pub fn output_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {:?}: {e}", cmd.get_program()));
    let _ = writer.join();
    out
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
    fn input_reaches_the_program() {
        let out = output_with_input(Command::new("tr").arg("a-z").arg("A-Z"), b"hello");
        assert!(out.status.success());
        assert_eq!(out.stdout, b"HELLO");
    }

    #[test]
    #[should_panic(expected = "failed")]
    fn run_ok_panics_on_failure() {
        run_ok("false", &[]);
    }
}
