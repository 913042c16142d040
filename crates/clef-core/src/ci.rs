//! `clef policy init`: the policy file and a CI job that enforces it on
//! every pull request with the released `clef` binaries (no Node), and
//! uploads `compliance.json`.

use std::path::{Path, PathBuf};

/// A CI provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// GitHub Actions.
    Github,
    /// GitLab CI.
    Gitlab,
    /// Bitbucket Pipelines.
    Bitbucket,
    /// CircleCI.
    Circleci,
}

/// The names `--ci` accepts.
pub const PROVIDERS: [&str; 4] = ["github", "gitlab", "bitbucket", "circleci"];

/// Where the downloaded binaries come from; the job's `CLEF_RELEASE_URL`
/// overrides it (a mirror inside the organisation).
pub const RELEASE_URL: &str = "https://github.com/clef-sh/clef-rs/releases/download";

/// The shell lines that install the released binaries into `$BIN` (a
/// checksum-verified archive: `sha256sum -c` against the release's list).
fn install_lines() -> Vec<String> {
    vec![
        "BIN=\"$HOME/.local/bin\"; mkdir -p \"$BIN\"".into(),
        "URL=\"${CLEF_RELEASE_URL:-RELEASE}/v${CLEF_VERSION}\"".replace("RELEASE", RELEASE_URL),
        "ARCHIVE=\"clef-${CLEF_VERSION}-x86_64-unknown-linux-musl.tar.gz\"".into(),
        "curl -fsSLO \"$URL/$ARCHIVE\" && curl -fsSL \"$URL/SHA256SUMS\" | grep \" $ARCHIVE\\$\" | sha256sum -c -".into(),
        "tar -xzf \"$ARCHIVE\" -C \"$BIN\" clef clef-scan && rm \"$ARCHIVE\"".into(),
    ]
}

/// The commands the job runs after installing, in order: the report is
/// written (and uploaded) whatever the verdict; then the gate.
pub const COMMANDS: [&str; 2] = [
    "clef policy report --output compliance.json",
    "clef policy check",
];

impl Provider {
    /// Parses a `--ci` value.
    pub fn parse(s: &str) -> Option<Provider> {
        Some(match s {
            "github" => Provider::Github,
            "gitlab" => Provider::Gitlab,
            "bitbucket" => Provider::Bitbucket,
            "circleci" => Provider::Circleci,
            _ => return None,
        })
    }

    /// The provider the repository already uses, if one is recognisable.
    pub fn detect(root: &Path) -> Option<Provider> {
        if root.join(".github").is_dir() {
            Some(Provider::Github)
        } else if root.join(".gitlab-ci.yml").is_file() {
            Some(Provider::Gitlab)
        } else if root.join("bitbucket-pipelines.yml").is_file() {
            Some(Provider::Bitbucket)
        } else if root.join(".circleci").is_dir() {
            Some(Provider::Circleci)
        } else {
            None
        }
    }

    /// The file written, relative to the root (the old tool's paths).
    pub fn path(self) -> PathBuf {
        PathBuf::from(match self {
            Provider::Github => ".github/workflows/clef-compliance.yml",
            Provider::Gitlab => ".gitlab/clef-compliance.yml",
            Provider::Bitbucket => ".clef/workflows/bitbucket-pipelines.yml",
            Provider::Circleci => ".clef/workflows/circleci-config.yml",
        })
    }

    /// What the user still has to do, if anything (GitLab, Bitbucket and
    /// CircleCI read one configuration file of their own).
    pub fn merge_instruction(self) -> Option<&'static str> {
        match self {
            Provider::Github => None,
            Provider::Gitlab => {
                Some("add `include: '.gitlab/clef-compliance.yml'` to your .gitlab-ci.yml")
            }
            Provider::Bitbucket => Some(
                "merge .clef/workflows/bitbucket-pipelines.yml into your bitbucket-pipelines.yml",
            ),
            Provider::Circleci => {
                Some("merge .clef/workflows/circleci-config.yml into your .circleci/config.yml")
            }
        }
    }

    /// The job's text.
    pub fn render(self, version: &str) -> String {
        let head = "# Clef compliance: rotation policy (.clef/policy.yaml), secret scan and lint on\n# every change; uploads compliance.json. Uses the released clef binaries (no Node).\n# Regenerate with `clef policy init --force`.\n";
        let install = install_lines();
        match self {
            Provider::Github => {
                let mut s = format!(
                    "{head}name: Clef compliance\n\non:\n  pull_request:\n  push:\n    branches: [main]\n\npermissions:\n  contents: read\n\njobs:\n  compliance:\n    runs-on: ubuntu-latest\n    env:\n      CLEF_VERSION: \"{version}\"\n    steps:\n      - uses: actions/checkout@v4\n      - name: Install clef\n        run: |\n"
                );
                for l in &install {
                    s.push_str(&format!("          {l}\n"));
                }
                s.push_str("          echo \"$BIN\" >> \"$GITHUB_PATH\"\n");
                s.push_str(&format!(
                    "      - name: Compliance report\n        run: {}\n      - name: Upload compliance.json\n        if: always()\n        uses: actions/upload-artifact@v4\n        with:\n          name: compliance\n          path: compliance.json\n          retention-days: 90\n      - name: Rotation policy\n        run: {}\n",
                    COMMANDS[0], COMMANDS[1]
                ));
                s
            }
            Provider::Gitlab => {
                let mut s = format!(
                    "{head}clef-compliance:\n  stage: test\n  image: alpine:3.20\n  variables:\n    CLEF_VERSION: \"{version}\"\n  script:\n    - apk add --no-cache curl git\n"
                );
                s.push_str(&script_items(&install, "    "));
                s.push_str("  artifacts:\n    when: always\n    paths:\n      - compliance.json\n    expire_in: 90 days\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"\n    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH\n");
                s
            }
            Provider::Bitbucket => {
                let mut s = format!(
                    "{head}image: alpine:3.20\n\ndefinitions:\n  steps:\n    - step: &clef-compliance\n        name: Clef compliance\n        script:\n          - apk add --no-cache curl git\n          - export CLEF_VERSION=\"{version}\"\n"
                );
                s.push_str(&script_items(&install, "          "));
                s.push_str("        artifacts:\n          - compliance.json\n\npipelines:\n  pull-requests:\n    \"**\":\n      - step: *clef-compliance\n  branches:\n    main:\n      - step: *clef-compliance\n");
                s
            }
            Provider::Circleci => {
                let mut s = format!(
                    "{head}version: 2.1\n\njobs:\n  clef-compliance:\n    docker:\n      - image: cimg/base:stable\n    environment:\n      CLEF_VERSION: \"{version}\"\n    steps:\n      - checkout\n      - run:\n          name: Install clef\n          command: |\n"
                );
                for l in &install {
                    s.push_str(&format!("            {l}\n"));
                }
                s.push_str(
                    "            echo \"export PATH=\\\"$BIN:\\$PATH\\\"\" >> \"$BASH_ENV\"\n",
                );
                s.push_str(&format!(
                    "      - run:\n          name: Compliance report\n          command: {}\n      - store_artifacts:\n          path: compliance.json\n      - run:\n          name: Rotation policy\n          command: {}\n\nworkflows:\n  compliance:\n    jobs:\n      - clef-compliance\n",
                    COMMANDS[0], COMMANDS[1]
                ));
                s
            }
        }
    }
}

/// A plain YAML scalar for a shell line: single-quoted (`'` doubled).
fn yaml_single(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A `script:` list (GitLab, Bitbucket): the install lines, PATH, then the
/// clef commands, each item at `indent`.
fn script_items(install: &[String], indent: &str) -> String {
    let mut s = String::new();
    for l in install
        .iter()
        .map(String::as_str)
        .chain(["export PATH=\"$BIN:$PATH\""])
    {
        s.push_str(&format!("{indent}- {}\n", yaml_single(l)));
    }
    for c in COMMANDS {
        s.push_str(&format!("{indent}- {c}\n"));
    }
    s
}

/// What happened to one scaffolded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Written (or would be, with `--dry-run`).
    Created,
    /// Already there; `--force` overwrites.
    Exists,
    /// Not asked for (`--policy-only` / `--workflow-only`).
    SkippedByFlag,
    /// No provider given or detected.
    NoProvider,
}

impl Status {
    /// The old tool's status names.
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Exists => "skipped_exists",
            Status::SkippedByFlag => "skipped_by_flag",
            Status::NoProvider => "skipped_no_provider",
        }
    }
}

/// One file of the scaffold: where, what, and what happens to it.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Relative path.
    pub path: PathBuf,
    /// The contents.
    pub text: String,
    /// The outcome.
    pub status: Status,
}

/// What `policy init` will write: the policy, then the job.
pub fn plan(
    root: &Path,
    provider: Option<Provider>,
    force: bool,
    policy: bool,
    workflow: bool,
    version: &str,
) -> Vec<Planned> {
    let state = |wanted: bool, path: &Path| {
        if !wanted {
            Status::SkippedByFlag
        } else if root.join(path).exists() && !force {
            Status::Exists
        } else {
            Status::Created
        }
    };
    let mut out = vec![Planned {
        path: PathBuf::from(crate::policy::FILE),
        text: crate::policy::TEMPLATE.to_owned(),
        status: state(policy, Path::new(crate::policy::FILE)),
    }];
    match provider {
        Some(p) => out.push(Planned {
            path: p.path(),
            text: p.render(version),
            status: state(workflow, &p.path()),
        }),
        None => out.push(Planned {
            path: Provider::Github.path(),
            text: String::new(),
            status: if workflow {
                Status::NoProvider
            } else {
                Status::SkippedByFlag
            },
        }),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_the_report_and_the_gate_without_node() {
        for p in PROVIDERS {
            let t = Provider::parse(p).unwrap().render("1.2.3");
            for c in COMMANDS {
                assert!(t.contains(c), "{p}");
            }
            assert!(t.contains("compliance.json"), "{p}");
            assert!(!t.contains("npm") && !t.contains("node"), "{p}");
            assert!(t.contains("1.2.3"), "{p}");
        }
        assert_eq!(Provider::parse("jenkins"), None);
    }
}
