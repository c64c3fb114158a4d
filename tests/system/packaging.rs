//! The deployment files in `packaging/`: the systemd unit passes
//! `systemd-analyze verify`, and the Dockerfile, compose file and proxy
//! examples agree with the server's own defaults and settings. Docker, a YAML
//! parser and the proxies are not available to the tests, so those files are
//! checked as text, against the values clap would use.
//!
//! The unit check needs `systemd-analyze` (Debian package `systemd`). Without
//! it the test prints a skip notice and passes, unless `CLAVOX_REQUIRE_SYSTEMD`
//! is set (as in CI), where it fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Args;
use clavox::config::Config;
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_clavox");
const INSTALL_HINT: &str = "install the Debian package `systemd` (apt-get install systemd)";

fn packaging(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(packaging(name))
        .unwrap_or_else(|error| panic!("packaging/{name}: {error}"))
}

/// What `clavox serve` uses when neither a flag nor the environment sets
/// `field`: read from clap's definition, so no environment leaks in.
fn server_default(field: &str) -> String {
    let command = Config::augment_args(clap::Command::new("serve"));
    let argument = command
        .get_arguments()
        .find(|argument| argument.get_id() == field)
        .unwrap_or_else(|| panic!("Config has no field {field}"));
    let values = argument.get_default_values();
    assert_eq!(values.len(), 1, "{field} has one default");
    values[0].to_string_lossy().into_owned()
}

/// Every environment variable `clavox serve` reads.
fn setting_names() -> BTreeSet<String> {
    let command = Config::augment_args(clap::Command::new("serve"));
    command
        .get_arguments()
        .filter_map(|argument| argument.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .chain(["RUST_LOG".to_owned()])
        .collect()
}

/// Asserts that the binary accepts `args` as a command (via `--help`), so a
/// renamed subcommand cannot leave a packaging file calling a missing one.
fn assert_command_exists(args: &[&str], file: &str) {
    let status = Command::new(BINARY)
        .args(args)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the binary runs");
    assert!(
        status.success(),
        "{file} runs `clavox {}`, which the binary does not accept",
        args.join(" ")
    );
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

// ---------------------------------------------------------------------------
// systemd
// ---------------------------------------------------------------------------

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify_without_warnings() {
    let unit = read("clavox.service");
    let exec_start: Vec<&str> = unit
        .lines()
        .filter(|line| line.starts_with("ExecStart="))
        .collect();
    assert_eq!(exec_start, ["ExecStart=/usr/local/bin/clavox serve"]);
    assert_command_exists(&["serve"], "clavox.service");

    let Some(analyze) = find_program("systemd-analyze") else {
        assert!(
            std::env::var_os("CLAVOX_REQUIRE_SYSTEMD").is_none(),
            "CLAVOX_REQUIRE_SYSTEMD is set but systemd-analyze is missing: {INSTALL_HINT}"
        );
        eprintln!("skipped: {INSTALL_HINT} to verify packaging/clavox.service");
        return;
    };

    // verify insists that ExecStart's binary exists: point a copy at the one
    // cargo built, and keep every other line.
    assert!(
        !BINARY.contains(char::is_whitespace),
        "the test binary's path has no spaces"
    );
    let copy: String = unit
        .lines()
        .map(
            |line| match line.strip_prefix("ExecStart=/usr/local/bin/clavox") {
                Some(arguments) => format!("ExecStart={BINARY}{arguments}\n"),
                None => format!("{line}\n"),
            },
        )
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clavox.service");
    std::fs::write(&path, copy).unwrap();

    // With stderr not a terminal, systemd tools log to the kernel log, where
    // the warnings about the unit would vanish: ask for them on stderr.
    let output = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .env("SYSTEMD_LOG_TARGET", "console")
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .stdin(Stdio::null())
        .output()
        .expect("systemd-analyze runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !report.trim().is_empty() {
        eprintln!("systemd-analyze verify said:\n{report}");
    }
    assert!(
        output.status.success(),
        "systemd-analyze verify failed:\n{report}"
    );
    // An unknown or misspelt key is only a warning, and the unit would run
    // without that protection: anything said about this unit fails the test.
    let about_unit: Vec<&str> = report
        .lines()
        .filter(|line| line.contains("clavox.service"))
        .collect();
    assert!(
        about_unit.is_empty(),
        "systemd-analyze verify warned:\n{}",
        about_unit.join("\n")
    );
}

#[test]
fn the_systemd_unit_and_env_example_use_only_real_settings() {
    let names = setting_names();
    let unit = read("clavox.service");
    assert!(unit.contains("Environment=CLAVOX_DATA_DIR=/var/lib/clavox"));
    assert!(unit.contains("StateDirectory=clavox\n"));
    for line in unit
        .lines()
        .filter_map(|line| line.strip_prefix("Environment="))
    {
        let name = line.split('=').next().unwrap();
        assert!(
            names.contains(name),
            "clavox.service sets {name}, which clavox does not read"
        );
    }
    let example = read("clavox.env.example");
    let mut listed = 0;
    for line in example.lines() {
        let line = line.trim_start_matches('#');
        let Some((name, _)) = line.split_once('=') else {
            continue;
        };
        if !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            assert!(
                names.contains(name),
                "clavox.env.example lists {name}, which clavox does not read"
            );
            listed += 1;
        }
    }
    assert!(listed >= 10, "clavox.env.example lists the common settings");
    assert!(
        !example
            .lines()
            .any(|line| line.starts_with("CLAVOX_DATA_DIR")),
        "the unit sets the data dir"
    );
}

// ---------------------------------------------------------------------------
// Docker
// ---------------------------------------------------------------------------

/// A Dockerfile's instructions with continuation lines joined and comments
/// (including parser directives) dropped: (KEYWORD, arguments).
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut parsed = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (keyword, arguments) = current
            .split_once(char::is_whitespace)
            .unwrap_or((&current, ""));
        parsed.push((keyword.to_ascii_uppercase(), arguments.trim().to_owned()));
        current.clear();
    }
    parsed
}

/// An exec-form (JSON array) command.
fn exec_form(arguments: &str) -> Vec<String> {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().expect("strings").to_owned())
            .collect(),
        _ => panic!("`{arguments}` is not in exec form [\"...\"]: scratch has no shell"),
    }
}

#[test]
fn the_dockerfile_runs_the_static_binary_as_non_root_on_scratch_with_the_server_defaults() {
    let all = instructions(&read("Dockerfile"));
    let last_from = all
        .iter()
        .rposition(|(keyword, _)| keyword == "FROM")
        .expect("a FROM");
    let (build, image) = all.split_at(last_from);
    let find = |keyword: &str| -> Vec<&str> {
        image
            .iter()
            .filter(|(k, _)| k == keyword)
            .map(|(_, arguments)| arguments.as_str())
            .collect()
    };

    // The build makes the release binary the way a release is made.
    let build_text: Vec<&str> = build
        .iter()
        .map(|(_, arguments)| arguments.as_str())
        .collect();
    let build_text = build_text.join("\n");
    assert!(
        build_text.contains("+crt-static"),
        "the build links statically"
    );
    assert!(build_text.contains("--target x86_64-unknown-linux-gnu"));
    assert!(build_text.contains("--release"));

    let base = image[0]
        .1
        .split_whitespace()
        .find(|word| !word.starts_with("--"))
        .unwrap();
    assert!(
        base == "scratch" || base.starts_with("gcr.io/distroless/static"),
        "the image is built on scratch or distroless static, not {base}"
    );

    let user = find("USER");
    assert_eq!(user.len(), 1, "one USER in the final stage");
    let uid = user[0].split(':').next().unwrap();
    assert!(
        uid != "root" && uid.parse::<u32>().is_ok_and(|uid| uid != 0),
        "USER {} is not root",
        user[0]
    );
    let data_copy = find("COPY")
        .into_iter()
        .find(|arguments| arguments.ends_with(" /data"))
        .expect("a COPY of /data");
    assert!(
        data_copy.contains(&format!("--chown={}", user[0])),
        "/data belongs to USER {}",
        user[0]
    );

    let env: Vec<(&str, &str)> = find("ENV")
        .iter()
        .flat_map(|arguments| arguments.split_whitespace())
        .map(|pair| pair.split_once('=').expect("ENV KEY=value"))
        .collect();
    let env_value = |name: &str| {
        env.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
    };
    let names = setting_names();
    for (name, _) in &env {
        assert!(
            names.contains(*name),
            "the Dockerfile sets {name}, which clavox does not read"
        );
    }
    assert_eq!(env_value("CLAVOX_DATA_DIR"), Some("/data"));
    assert_eq!(env_value("HOST"), Some(server_default("host").as_str()));
    let port = server_default("port");
    assert_eq!(env_value("PORT"), Some(port.as_str()));
    // The HTTP port and the HTTPS one (TLS=auto is the default).
    let tls_port = server_default("tls_port");
    assert_eq!(find("EXPOSE"), [format!("{port} {tls_port}")]);
    let volume = find("VOLUME");
    assert!(
        volume == ["/data"] || volume == ["[\"/data\"]"],
        "VOLUME /data, not {volume:?}"
    );

    let healthcheck = find("HEALTHCHECK");
    assert_eq!(healthcheck.len(), 1, "one HEALTHCHECK");
    let (_, command) = healthcheck[0]
        .split_once("CMD ")
        .expect("HEALTHCHECK ... CMD [...]");
    let command = exec_form(command);
    assert_eq!(command[..2], ["/clavox", "healthcheck"]);
    if let Some(at) = command.iter().position(|word| word == "--port") {
        assert_eq!(
            command[at + 1],
            port,
            "the health check asks the server's port"
        );
    }
    assert_command_exists(&["healthcheck"], "the HEALTHCHECK");

    let entrypoint = exec_form(find("ENTRYPOINT")[0]);
    let cmd = exec_form(find("CMD")[0]);
    assert_eq!(entrypoint, ["/clavox"]);
    assert_eq!(cmd, ["serve"]);
    assert!(
        find("COPY")
            .iter()
            .any(|arguments| arguments.ends_with(" /clavox")),
        "the binary is /clavox"
    );
    assert_command_exists(&["serve"], "the image's CMD");
}

#[test]
fn the_docker_build_context_leaves_out_build_output_and_secrets_but_not_the_sources() {
    let ignore = read("Dockerfile.dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    for needed in ["target/", ".git/", ".env"] {
        assert!(
            patterns.contains(&needed),
            "Dockerfile.dockerignore leaves out {needed}"
        );
    }
    for source in ["src", "web", "tests", "Cargo.toml", "Cargo.lock"] {
        assert!(
            !patterns
                .iter()
                .any(|pattern| pattern.trim_end_matches('/') == source),
            "the build needs {source}"
        );
    }
}

#[test]
fn the_compose_file_builds_the_image_and_keeps_data_in_a_named_volume() {
    let compose = read("compose.yaml");
    assert!(!compose.contains('\t'), "YAML is indented with spaces");
    let port = server_default("port");
    for line in [
        "services:".to_owned(),
        "  clavox:".to_owned(),
        "      context: ..".to_owned(),
        "      dockerfile: packaging/Dockerfile".to_owned(),
        "    restart: unless-stopped".to_owned(),
        format!("      - \"{port}:{port}\""),
        "      - clavox-data:/data".to_owned(),
        "      test: [\"CMD\", \"/clavox\", \"healthcheck\"]".to_owned(),
        "volumes:".to_owned(),
        "  clavox-data:".to_owned(),
    ] {
        assert!(
            compose.lines().any(|candidate| candidate == line),
            "compose.yaml has the line `{line}`"
        );
    }
    // The context, relative to the compose file, is the repository root.
    assert!(packaging("..").join("Cargo.toml").is_file());
    let names = setting_names();
    let mut in_environment = false;
    for line in compose.lines() {
        if line.trim() == "environment:" {
            in_environment = true;
            continue;
        }
        if in_environment && !line.starts_with("      ") {
            break;
        }
        let setting = line.trim().trim_start_matches("# ");
        if let Some((name, _)) = setting
            .split_once(": ")
            .filter(|(name, _)| in_environment && !name.contains(' '))
        {
            assert!(
                names.contains(name),
                "compose.yaml sets {name}, which clavox does not read"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Reverse proxies
// ---------------------------------------------------------------------------

/// `26m`, `26MiB`, `26MB` or plain bytes, as nginx and Caddy read sizes.
fn size_in_bytes(text: &str) -> u64 {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().unwrap();
    number
        * match unit {
            "" => 1,
            "k" | "K" | "KiB" => 1 << 10,
            "m" | "M" | "MiB" => 1 << 20,
            "KB" => 1000,
            "MB" => 1_000_000,
            other => panic!("unknown size unit {other}"),
        }
}

/// The arguments of every `name` line, spaces collapsed and `;` dropped.
fn directive(config: &str, name: &str) -> Vec<String> {
    config
        .lines()
        .filter_map(|line| line.trim().strip_prefix(name))
        .filter(|rest| rest.starts_with(char::is_whitespace))
        .map(|rest| {
            let words: Vec<&str> = rest
                .trim_end()
                .trim_end_matches(';')
                .split_whitespace()
                .collect();
            words.join(" ")
        })
        .collect()
}

#[test]
fn the_nginx_example_passes_websocket_upgrades_the_upload_limit_and_the_client_address() {
    let nginx = read("nginx.conf");
    let upload_max: u64 = server_default("upload_max_bytes").parse().unwrap();
    let port = server_default("port");

    let headers = directive(&nginx, "proxy_set_header");
    assert!(
        headers
            .iter()
            .any(|header| header == "Upgrade $http_upgrade"),
        "passes Upgrade: {headers:?}"
    );
    let connection = headers
        .iter()
        .find(|header| header.starts_with("Connection"))
        .expect("sets Connection");
    let variable = connection.split_whitespace().nth(1).unwrap();
    assert!(
        nginx.contains(&format!("map $http_upgrade {variable} {{")),
        "Connection comes from a map of Upgrade"
    );
    assert_eq!(directive(&nginx, "proxy_http_version"), ["1.1"]);
    // The server takes the first address of the list: it must be the client's.
    assert!(
        headers
            .iter()
            .any(|header| header == "X-Forwarded-For $remote_addr"),
        "overwrites X-Forwarded-For"
    );
    assert!(
        !nginx.contains("$proxy_add_x_forwarded_for;"),
        "never appends to a client's X-Forwarded-For"
    );
    assert!(nginx.contains("TRUST_PROXY=true"));
    // /metrics answers loopback peers, which every proxied request is
    // when TRUST_PROXY is forgotten: the proxy keeps it private.
    assert!(nginx.contains("location = /metrics {\n        return 404;"));

    for location in ["location = /ws {", "location /socket.io/ {", "location / {"] {
        assert!(nginx.contains(location), "nginx.conf has `{location}`");
    }
    for pass in directive(&nginx, "proxy_pass") {
        assert_eq!(pass, format!("http://127.0.0.1:{port}"));
    }
    // An upload is the raw file, so the proxy's limit is the server's: above
    // it, a body between the two limits is refused by the server mid-send
    // and nginx answers 502 (which clients retry) instead of 413.
    let body = directive(&nginx, "client_max_body_size");
    assert_eq!(body.len(), 1);
    assert_eq!(
        size_in_bytes(&body[0]),
        upload_max,
        "client_max_body_size is UPLOAD_MAX_BYTES"
    );
    let timeouts = directive(&nginx, "proxy_read_timeout");
    assert_eq!(timeouts.len(), 2, "a read timeout for /ws and /socket.io/");
    for timeout in timeouts {
        let seconds: u64 = timeout.strip_suffix('s').unwrap().parse().unwrap();
        assert!(
            seconds >= 75,
            "proxy_read_timeout {timeout} outlasts the 25-second pings by far"
        );
    }
}

#[test]
fn the_caddy_example_proxies_to_the_server_with_the_server_upload_limit() {
    let caddy = read("Caddyfile");
    let upload_max: u64 = server_default("upload_max_bytes").parse().unwrap();
    let port = server_default("port");
    assert_eq!(
        directive(&caddy, "reverse_proxy"),
        [format!("127.0.0.1:{port} {{")]
    );
    let body = directive(&caddy, "max_size");
    assert_eq!(body.len(), 1);
    assert_eq!(
        size_in_bytes(&body[0]),
        upload_max,
        "max_size is UPLOAD_MAX_BYTES"
    );
    assert!(caddy.contains("TRUST_PROXY=true"));
    assert_eq!(directive(&caddy, "respond"), ["/metrics 404"]);
}
