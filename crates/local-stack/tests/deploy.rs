//! The deployment files agree with the code, as far as can be checked without a container engine:
//! docker-compose.yml runs only binaries the workspace builds and the Dockerfile copies, gives each container only
//! variables its binary reads (with values it accepts) and each service only its own key, publishes the ports the
//! services listen on, and names only variables `onestop-token env` writes; Prometheus scrapes every service's
//! metrics port; Grafana's dashboard reads the provisioned data source and queries only metrics the services
//! export. The binaries the containers run beyond the services (the health probe, the demonstration loader) are
//! run here against a system in this process.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use onestop_auth::command::{TokenCommand, ENV_VARIABLES};
use onestop_local::demo_command::DemoArgs;
use onestop_local::probe::ProbeArgs;
use onestop_local::{Addresses, Stack};
use tokio::process::Command as Process;

/// A small YAML reader, for the subset the deployment files are written in: block maps and lists, flow lists of
/// scalars, quoted and plain scalars, comments, anchors, aliases and `<<` merges.
mod yaml {
    use std::collections::HashMap;

    #[derive(Debug, Clone, PartialEq)]
    pub enum Yaml {
        Map(Vec<(String, Yaml)>),
        List(Vec<Yaml>),
        Text(String),
        Null,
    }

    impl Yaml {
        pub fn get(&self, key: &str) -> Option<&Yaml> {
            match self {
                Yaml::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }

        /// The value at a path of keys, which must be there.
        pub fn at(&self, path: &[&str]) -> &Yaml {
            path.iter().fold(self, |value, key| value.get(key).unwrap_or_else(|| panic!("no {key} in {path:?}")))
        }

        pub fn entries(&self) -> &[(String, Yaml)] {
            match self {
                Yaml::Map(entries) => entries,
                Yaml::Null => &[],
                other => panic!("not a map: {other:?}"),
            }
        }

        pub fn items(&self) -> &[Yaml] {
            match self {
                Yaml::List(items) => items,
                Yaml::Null => &[],
                other => panic!("not a list: {other:?}"),
            }
        }

        pub fn text(&self) -> &str {
            match self {
                Yaml::Text(text) => text,
                other => panic!("not a scalar: {other:?}"),
            }
        }

        pub fn texts(&self) -> Vec<&str> {
            self.items().iter().map(Yaml::text).collect()
        }
    }

    struct Line {
        indent: usize,
        text: String,
    }

    pub fn parse(source: &str) -> Yaml {
        let lines: Vec<Line> = source
            .lines()
            .map(strip_comment)
            .filter(|l| !l.trim().is_empty())
            .map(|l| Line { indent: l.len() - l.trim_start().len(), text: l.trim().to_owned() })
            .collect();
        let mut parser = Parser { lines, at: 0, anchors: HashMap::new() };
        let indent = parser.lines.first().map_or(0, |l| l.indent);
        let value = parser.block(indent);
        assert_eq!(parser.at, parser.lines.len(), "unread from: {}", parser.lines[parser.at].text);
        value
    }

    /// The line without its comment: a `#` at its start or after a space, outside quotes.
    fn strip_comment(line: &str) -> String {
        let (mut quote, mut previous) = (None, ' ');
        for (i, c) in line.char_indices() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '#') if previous == ' ' => return line[..i].trim_end().to_owned(),
                _ => {}
            }
            previous = c;
        }
        line.to_owned()
    }

    struct Parser {
        lines: Vec<Line>,
        at: usize,
        anchors: HashMap<String, Yaml>,
    }

    impl Parser {
        fn block(&mut self, indent: usize) -> Yaml {
            if self.lines[self.at].text.starts_with("- ") || self.lines[self.at].text == "-" {
                self.list(indent)
            } else {
                self.map(indent)
            }
        }

        fn list(&mut self, indent: usize) -> Yaml {
            let mut items = Vec::new();
            while self.at < self.lines.len() && self.lines[self.at].indent == indent {
                let text = self.lines[self.at].text.clone();
                let Some(rest) = text.strip_prefix('-') else { break };
                let rest = rest.trim_start();
                if rest.is_empty() {
                    self.at += 1;
                    let inner = self.lines[self.at].indent;
                    items.push(self.block(inner));
                } else if key_value(rest).is_some() {
                    // `- key: value` opens a map whose entries continue two columns in.
                    self.lines[self.at] = Line { indent: indent + 2, text: rest.to_owned() };
                    items.push(self.map(indent + 2));
                } else {
                    self.at += 1;
                    items.push(self.value(rest));
                }
            }
            Yaml::List(items)
        }

        fn map(&mut self, indent: usize) -> Yaml {
            let mut entries: Vec<(String, Yaml)> = Vec::new();
            let mut merged: Vec<(String, Yaml)> = Vec::new();
            while self.at < self.lines.len() && self.lines[self.at].indent == indent {
                let text = self.lines[self.at].text.clone();
                let (key, rest) = key_value(&text).unwrap_or_else(|| panic!("not a map entry: {text}"));
                self.at += 1;
                let (anchor, rest) = match rest.strip_prefix('&') {
                    Some(named) => {
                        let (name, rest) = named.split_once(' ').unwrap_or((named, ""));
                        (Some(name.to_owned()), rest.trim())
                    }
                    None => (None, rest),
                };
                let value = if rest.is_empty() {
                    match self.lines.get(self.at) {
                        Some(next) if next.indent > indent => {
                            let inner = next.indent;
                            self.block(inner)
                        }
                        _ => Yaml::Null,
                    }
                } else {
                    self.value(rest)
                };
                if let Some(anchor) = anchor {
                    self.anchors.insert(anchor, value.clone());
                }
                if key == "<<" {
                    merged.extend(value.entries().iter().cloned());
                } else {
                    entries.push((key, value));
                }
            }
            // Merged entries fill in what the map does not say itself.
            for (key, value) in merged {
                if !entries.iter().any(|(k, _)| *k == key) {
                    entries.push((key, value));
                }
            }
            Yaml::Map(entries)
        }

        fn value(&self, text: &str) -> Yaml {
            if let Some(alias) = text.strip_prefix('*') {
                return self.anchors.get(alias).unwrap_or_else(|| panic!("no anchor {alias}")).clone();
            }
            if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                return Yaml::List(split_flow(inner).iter().map(|item| scalar(item)).collect());
            }
            scalar(text)
        }
    }

    /// `key: value` (or `key:`), for a plain or quoted key.
    fn key_value(text: &str) -> Option<(String, &str)> {
        if text.starts_with('"') || text.starts_with('\'') || text.starts_with('[') {
            return None;
        }
        let end = text.find(": ").or_else(|| text.ends_with(':').then(|| text.len() - 1))?;
        Some((text[..end].to_owned(), text[end + 1..].trim()))
    }

    fn split_flow(inner: &str) -> Vec<String> {
        let (mut items, mut current, mut quote) = (Vec::new(), String::new(), None);
        for c in inner.chars() {
            match (quote, c) {
                (None, '"' | '\'') => {
                    quote = Some(c);
                    current.push(c);
                }
                (Some(q), c) if c == q => {
                    quote = None;
                    current.push(c);
                }
                (None, ',') => items.push(std::mem::take(&mut current).trim().to_owned()),
                _ => current.push(c),
            }
        }
        if !current.trim().is_empty() {
            items.push(current.trim().to_owned());
        }
        items
    }

    fn scalar(text: &str) -> Yaml {
        let unquoted = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .map(|t| t.replace("\\\"", "\"").replace("\\\\", "\\"))
            .or_else(|| text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')).map(|t| t.replace("''", "'")));
        Yaml::Text(unquoted.unwrap_or_else(|| text.to_owned()))
    }

    #[test]
    fn the_subset_reads_as_yaml_does() {
        let read = parse(
            "base: &base\n  a: 1 # one\n  b: \"x # y\"\nthing:\n  <<: *base\n  b: two\n  list: [\"p\", q, 'r s']\n  \
             items:\n    - name: n\n      v: [1]\n    - plain\n",
        );
        let thing = read.get("thing").unwrap();
        assert_eq!(thing.at(&["a"]).text(), "1");
        assert_eq!(thing.at(&["b"]).text(), "two", "the map's own entry wins over the merged one");
        assert_eq!(read.at(&["base", "b"]).text(), "x # y");
        assert_eq!(thing.at(&["list"]).texts(), ["p", "q", "r s"]);
        let items = thing.at(&["items"]).items();
        assert_eq!(items[0].at(&["name"]).text(), "n");
        assert_eq!(items[0].at(&["v"]).texts(), ["1"]);
        assert_eq!(items[1].text(), "plain");
    }
}

use yaml::Yaml;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repository().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compose() -> Yaml {
    yaml::parse(&read("docker-compose.yml"))
}

/// The binaries the workspace builds: every `[[bin]]` of every member.
fn workspace_binaries() -> BTreeSet<String> {
    let root = read("Cargo.toml");
    let members = root.split("members = [").nth(1).unwrap().split(']').next().unwrap();
    let mut binaries = BTreeSet::new();
    for member in members.split(',').map(|m| m.trim().trim_matches('"')).filter(|m| !m.is_empty()) {
        let manifest = read(&format!("{member}/Cargo.toml"));
        for section in manifest.split("[[bin]]").skip(1) {
            let name = section.lines().find_map(|l| l.strip_prefix("name = ")).expect("a [[bin]] has a name");
            binaries.insert(name.trim_matches('"').to_owned());
        }
    }
    binaries
}

/// The image every container of ours runs.
const IMAGE: &str = "onestop:dev";

/// A container of docker-compose.yml that runs one of our binaries.
struct Container<'a> {
    name: &'a str,
    definition: &'a Yaml,
}

impl Container<'_> {
    fn command(&self) -> Vec<&str> {
        self.definition.at(&["command"]).texts()
    }

    fn environment(&self) -> BTreeMap<&str, &str> {
        let environment = self.definition.get("environment").unwrap_or(&Yaml::Null);
        environment.entries().iter().map(|(k, v)| (k.as_str(), v.text())).collect()
    }

    fn healthcheck(&self) -> Option<Vec<&str>> {
        self.definition.get("healthcheck").map(|h| h.at(&["test"]).texts())
    }

    /// The container ports it publishes.
    fn published_ports(&self) -> BTreeSet<u16> {
        let ports = self.definition.get("ports").map(Yaml::texts).unwrap_or_default();
        ports.iter().map(|p| p.rsplit(':').next().unwrap().parse().expect("a port")).collect()
    }
}

fn our_containers(compose: &Yaml) -> Vec<Container<'_>> {
    let services = compose.at(&["services"]).entries();
    services
        .iter()
        .filter(|(_, s)| s.get("image").map(Yaml::text) == Some(IMAGE))
        .map(|(name, definition)| Container { name, definition })
        .collect()
}

/// The settings of one of our binaries, as a command line parser.
fn parser_of(binary: &str) -> clap::Command {
    match binary {
        "onestop-catalogue" => onestop_catalogue::Config::command(),
        "onestop-intake" => onestop_intake::Config::command(),
        "onestop-aggregation" => onestop_aggregation::Config::command(),
        "onestop-token" => <TokenCommand as clap::Subcommand>::augment_subcommands(clap::Command::new("onestop-token")),
        "onestop-demo" => DemoArgs::command(),
        "onestop-health" => ProbeArgs::command(),
        "onestop-dashboard" => onestop_dashboard::Config::command(),
        other => panic!("docker-compose.yml runs {other}, which this test does not know yet: add it to parser_of"),
    }
}

/// A value compose fills in from .env, as the test gives it.
fn placeholder(value: &str) -> String {
    if value.starts_with("${") {
        "from-the-env-file".into()
    } else {
        value.to_owned()
    }
}

/// The command line that says what `command` and `environment` say: each variable becomes the flag that reads it,
/// so parsing it checks that the binary reads every variable set and takes its value.
fn as_command_line(container: &str, command: &[&str], environment: &BTreeMap<&str, &str>) -> Vec<String> {
    let parser = parser_of(command[0]);
    let parser = match command.get(1) {
        Some(sub) if parser.has_subcommands() => parser.find_subcommand(sub).unwrap().clone(),
        _ => parser,
    };
    let mut line: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    for (name, value) in environment {
        let reader = parser.get_arguments().find(|a| a.get_env().is_some_and(|e| e == *name));
        let reader = reader.unwrap_or_else(|| panic!("{container} sets {name}, which {} does not read", command[0]));
        line.push(format!("--{}={}", reader.get_long().expect("a flag"), placeholder(value)));
    }
    line
}

#[test]
fn compose_runs_only_binaries_the_workspace_builds_and_the_image_holds() {
    let binaries = workspace_binaries();
    assert!(binaries.contains("onestop-catalogue") && binaries.contains("onestop-health"), "{binaries:?}");
    let dockerfile = read("Dockerfile");
    let built: BTreeSet<&str> =
        dockerfile.split("--bin ").skip(1).map(|s| s.split([' ', '"']).next().unwrap()).collect();
    let copied: BTreeSet<&str> =
        dockerfile.split("/target/release/").skip(1).map(|s| s.split([' ', '\\', '\n']).next().unwrap()).collect();
    for binary in &built {
        assert!(binaries.contains(*binary), "the Dockerfile builds {binary}, which is no [[bin]] of the workspace");
    }
    assert_eq!(copied, built, "the image holds what the Dockerfile builds");
    let compose = compose();
    let containers = our_containers(&compose);
    assert!(containers.len() >= 5, "the services, the token and the demonstration");
    for container in &containers {
        let mut run = vec![container.command()[0]];
        run.extend(container.healthcheck().map(|test| test[1]));
        for binary in run {
            assert!(binaries.contains(binary), "{} runs {binary}, which is no [[bin]]", container.name);
            assert!(copied.contains(binary), "{} runs {binary}, which the image does not hold", container.name);
        }
    }
}

#[test]
fn each_container_is_given_only_variables_its_binary_reads_and_accepts() {
    let compose = compose();
    for container in our_containers(&compose) {
        let line = as_command_line(container.name, &container.command(), &container.environment());
        let parsed = parser_of(container.command()[0]).try_get_matches_from(&line);
        assert!(parsed.is_ok(), "{}: {line:?}: {}", container.name, parsed.unwrap_err());
    }
}

/// The three services' settings as docker-compose.yml gives them.
fn service_settings(compose: &Yaml) -> BTreeMap<String, onestop_server::config::ServerArgs> {
    let mut settings = BTreeMap::new();
    for container in our_containers(compose) {
        let command = container.command();
        let line = as_command_line(container.name, &command, &container.environment());
        let server = match command[0] {
            "onestop-catalogue" => onestop_catalogue::Config::try_parse_from(&line).unwrap().server,
            "onestop-intake" => onestop_intake::Config::try_parse_from(&line).unwrap().server,
            "onestop-aggregation" => onestop_aggregation::Config::try_parse_from(&line).unwrap().server,
            _ => continue,
        };
        settings.insert(container.name.to_owned(), server);
    }
    assert_eq!(settings.len(), 3, "{:?}", settings.keys());
    settings
}

#[test]
fn services_publish_the_ports_they_listen_on_and_reach_each_other_where_they_listen() {
    let compose = compose();
    let settings = service_settings(&compose);
    let listening: BTreeMap<&str, u16> =
        settings.iter().map(|(name, s)| (name.as_str(), s.listen_addr.expect("LISTEN_ADDR").port())).collect();
    for container in our_containers(&compose) {
        let Some(server) = settings.get(container.name) else { continue };
        let (listen, metrics) = (server.listen_addr.unwrap(), server.metrics_addr.expect("METRICS_ADDR"));
        assert!(listen.ip().is_unspecified() && metrics.ip().is_unspecified(), "reachable from other containers");
        assert_ne!(listen.port(), metrics.port());
        assert_eq!(container.published_ports(), BTreeSet::from([listen.port(), metrics.port()]), "{}", container.name);
        // The health probe asks the service where it listens, from the same settings.
        let test = container.healthcheck().unwrap_or_else(|| panic!("{} has no healthcheck", container.name));
        assert_eq!(test[..2], ["CMD", "onestop-health"], "{}", container.name);
        let environment = container.environment();
        let probe_reads: BTreeSet<String> = ProbeArgs::command()
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        let probe_environment = environment.iter().filter(|(k, _)| probe_reads.contains(**k)).map(|(k, v)| (*k, *v));
        let probe_line = as_command_line(container.name, &test[1..], &probe_environment.collect());
        assert_eq!(ProbeArgs::try_parse_from(probe_line).unwrap().addr, listen, "{}", container.name);
        // Every URL naming another service names the port it listens on.
        for (name, value) in environment.iter().filter(|(k, _)| k.ends_with("_URL") && **k != "DATABASE_URL") {
            let (host, port) = value.strip_prefix("http://").unwrap().split_once(':').unwrap();
            assert_eq!(listening.get(host), Some(&port.parse().unwrap()), "{}: {name}={value}", container.name);
        }
    }
    // The ports the documentation names.
    let services = ["catalogue", "intake", "aggregation"];
    let metrics: Vec<u16> = services.iter().map(|name| settings[*name].metrics_addr.unwrap().port()).collect();
    assert_eq!(metrics, [9091, 9092, 9093]);
    assert_eq!(services.map(|name| listening[name]), [50051, 50052, 50053]);
}

#[test]
fn the_dashboard_publishes_its_port_and_reaches_aggregation_where_it_listens() {
    let compose = compose();
    let settings = service_settings(&compose);
    let containers = our_containers(&compose);
    let dashboard = containers.iter().find(|c| c.command()[0] == "onestop-dashboard").expect("a dashboard container");
    let line = as_command_line(dashboard.name, &dashboard.command(), &dashboard.environment());
    let config = onestop_dashboard::Config::try_parse_from(&line).unwrap();
    let listen = config.listen_addr.expect("LISTEN_ADDR");
    assert!(listen.ip().is_unspecified(), "reachable from the host");
    assert_eq!(dashboard.published_ports(), BTreeSet::from([listen.port()]));
    let aggregation = settings["aggregation"].listen_addr.unwrap().port();
    assert_eq!(config.aggregation_url, format!("http://aggregation:{aggregation}"));
    assert!(config.auth_public_keys.contains("from-the-env-file"), "the issuer's public key, from .env");
}

#[test]
fn the_keys_come_from_the_env_file_and_each_goes_where_it_belongs() {
    let text = read("docker-compose.yml");
    let written: BTreeSet<&str> = ENV_VARIABLES.iter().map(|(name, _)| *name).collect();
    let named: BTreeSet<&str> = text.split("${").skip(1).map(|s| s.split([':', '}', '-']).next().unwrap()).collect();
    assert_eq!(named, written, "compose names exactly what onestop-token env writes");
    let compose = compose();
    for container in our_containers(&compose) {
        let environment = container.environment();
        let holds_issuer_key = environment.values().any(|v| v.contains("${ONESTOP_ISSUER_KEY"));
        assert_eq!(
            holds_issuer_key,
            container.name == "token",
            "{}: the issuer's key is the token's alone",
            container.name
        );
        let service_key = environment.get("SERVICE_KEY");
        match container.name {
            "intake" | "aggregation" => {
                let own = format!("${{{}_SERVICE_KEY:?", container.name.to_uppercase());
                assert!(service_key.unwrap().starts_with(&own), "{}: {service_key:?}", container.name);
            }
            name => assert!(service_key.is_none(), "{name} holds a service key"),
        }
        if ["catalogue", "intake", "aggregation"].contains(&container.name) {
            for required in ["DATABASE_URL", "AUTH_PUBLIC_KEYS", "SERVICE_PUBLIC_KEYS", "LISTEN_ADDR", "METRICS_ADDR"] {
                assert!(environment.contains_key(required), "{} lacks {required}", container.name);
            }
        }
    }
}

#[test]
fn what_compose_mounts_and_waits_for_exists() {
    let compose = compose();
    let services = compose.at(&["services"]);
    let volumes: BTreeSet<&str> = compose.at(&["volumes"]).entries().iter().map(|(k, _)| k.as_str()).collect();
    for (name, service) in services.entries() {
        for mount in service.get("volumes").map(Yaml::texts).unwrap_or_default() {
            let source = mount.split(':').next().unwrap();
            if let Some(path) = source.strip_prefix("./") {
                assert!(repository().join(path).exists(), "{name} mounts {source}, which does not exist");
            } else {
                assert!(volumes.contains(source), "{name} mounts volume {source}, which is not declared");
            }
        }
        let depends_on = service.get("depends_on").unwrap_or(&Yaml::Null);
        let waited: Vec<&str> = match depends_on {
            Yaml::List(_) => depends_on.texts(),
            other => other.entries().iter().map(|(k, _)| k.as_str()).collect(),
        };
        for other in waited {
            assert!(services.get(other).is_some(), "{name} waits for {other}, which is no service");
        }
    }
}

#[test]
fn prometheus_scrapes_every_service_at_its_metrics_port() {
    let compose = compose();
    let settings = service_settings(&compose);
    let prometheus = yaml::parse(&read("deploy/prometheus.yml"));
    let mut scraped = BTreeMap::new();
    for job in prometheus.at(&["scrape_configs"]).items() {
        for config in job.at(&["static_configs"]).items() {
            for target in config.at(&["targets"]).texts() {
                let (host, port) = target.split_once(':').unwrap();
                scraped.insert(host.to_owned(), port.parse::<u16>().unwrap());
            }
        }
    }
    let exporting: BTreeMap<String, u16> =
        settings.iter().map(|(name, s)| (name.clone(), s.metrics_addr.unwrap().port())).collect();
    assert_eq!(scraped, exporting);
    let mounted = compose.at(&["services", "prometheus", "volumes"]).texts();
    assert!(
        mounted.iter().any(|m| m.starts_with("./deploy/prometheus.yml:/etc/prometheus/prometheus.yml")),
        "{mounted:?}"
    );
}

/// Every PromQL expression of the dashboard.
fn dashboard_queries() -> Vec<String> {
    let dashboard: serde_json::Value = serde_json::from_str(&read("deploy/grafana/dashboards/onestop.json")).unwrap();
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queries.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    queries
}

/// The metric names a query reads.
fn metric_names(query: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = query;
    while let Some(start) = rest.find("onestop_") {
        let name: String =
            rest[start..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
        rest = &rest[start + name.len()..];
        names.insert(name);
    }
    names
}

#[test]
fn grafana_is_provisioned_with_the_dashboard_and_the_data_source_it_reads() {
    let compose = compose();
    let datasources = yaml::parse(&read("deploy/grafana/provisioning/datasources/prometheus.yml"));
    let source = &datasources.at(&["datasources"]).items()[0];
    let (uid, url) = (source.at(&["uid"]).text(), source.at(&["url"]).text());
    let prometheus_port = compose.at(&["services", "prometheus", "ports"]).texts()[0].rsplit(':').next().unwrap();
    assert_eq!(url, format!("http://prometheus:{prometheus_port}"));

    let providers = yaml::parse(&read("deploy/grafana/provisioning/dashboards/onestop.yml"));
    let path = providers.at(&["providers"]).items()[0].at(&["options", "path"]).text();
    let mounts = compose.at(&["services", "grafana", "volumes"]).texts();
    assert!(mounts.contains(&format!("./deploy/grafana/dashboards:{path}:ro").as_str()), "{mounts:?}");
    let home = compose.at(&["services", "grafana", "environment", "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]);
    let home = home.text().strip_prefix(path).expect("the home dashboard is a provisioned one");
    assert!(repository().join("deploy/grafana/dashboards").join(home.trim_start_matches('/')).exists(), "{home}");

    let dashboard: serde_json::Value = serde_json::from_str(&read("deploy/grafana/dashboards/onestop.json")).unwrap();
    let mut targets = 0;
    for panel in dashboard["panels"].as_array().unwrap().iter().filter(|p| p["type"] != "row") {
        assert_eq!(panel["datasource"]["uid"], uid, "{}", panel["title"]);
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], uid, "{}", panel["title"]);
            targets += 1;
        }
    }
    // It shows what operators watch: call rates, latencies, cell outcomes, stream lag and pool use.
    let read_names: BTreeSet<String> = dashboard_queries().iter().flat_map(|q| metric_names(q)).collect();
    for wanted in [
        "onestop_rpc_calls_total",
        "onestop_rpc_duration_seconds_bucket",
        "onestop_intake_cells_total",
        "onestop_intake_cell_rejections_total",
        "onestop_stream_seconds_behind",
        "onestop_stream_changes_behind",
        "onestop_db_pool_in_use",
    ] {
        assert!(read_names.contains(wanted), "the dashboard shows no {wanted}");
    }
    assert!(targets >= 10, "{targets}");
}

/// The metric names a scrape of `addr` shows, with a histogram's series names (`_bucket`, `_sum`, `_count`).
async fn exported_names(addr: SocketAddr) -> BTreeSet<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(typed) = line.strip_prefix("# TYPE ") else { continue };
        let (name, kind) = typed.split_once(' ').unwrap();
        names.insert(name.to_owned());
        if kind == "histogram" {
            names.extend(["_bucket", "_sum", "_count"].map(|suffix| format!("{name}{suffix}")));
        }
    }
    names
}

#[tokio::test]
async fn the_dashboard_queries_only_metrics_the_services_export() {
    let Some(database) = onestop_testkit::database().await else { return };
    let stack = Stack::start(database.url(), Addresses::any_free_port()).await.unwrap();
    let mut exported = BTreeSet::new();
    for addr in [stack.metrics.catalogue, stack.metrics.intake, stack.metrics.aggregation] {
        exported.extend(exported_names(addr).await);
    }
    assert!(exported.contains("onestop_intake_cells_total"), "{exported:?}");
    for query in dashboard_queries() {
        for name in metric_names(&query) {
            assert!(exported.contains(&name), "the dashboard queries {name}, which no service exports: {query}");
        }
    }
    stack.shutdown().await.unwrap();
    drop(database);
}

#[tokio::test]
async fn the_health_probe_passes_a_serving_service_and_fails_an_absent_one() {
    let Some(database) = onestop_testkit::database().await else { return };
    let stack = Stack::start(database.url(), Addresses::any_free_port()).await.unwrap();
    // Run beside the services, which answer on this test's own runtime.
    let probe = |listen_addr: String| async move {
        let mut process = Process::new(env!("CARGO_BIN_EXE_onestop-health"));
        process.env("LISTEN_ADDR", listen_addr);
        for tls in ["TLS_CERT", "TLS_KEY", "TLS_CLIENT_CA", "TLS_CA"] {
            process.env_remove(tls);
        }
        process.output().await.unwrap()
    };
    // As in a container: the service's own LISTEN_ADDR, on every interface.
    for addr in [stack.addresses.catalogue, stack.addresses.intake, stack.addresses.aggregation] {
        let served = probe(format!("0.0.0.0:{}", addr.port())).await;
        assert!(served.status.success(), "{addr}: {}", String::from_utf8_lossy(&served.stderr));
        assert_eq!(String::from_utf8_lossy(&served.stdout).trim(), "SERVING");
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let absent = probe(closed.to_string()).await;
    assert_eq!(absent.status.code(), Some(1), "{}", String::from_utf8_lossy(&absent.stderr));
    assert!(String::from_utf8_lossy(&absent.stderr).contains("connecting"), "says why");
    stack.shutdown().await.unwrap();
    drop(database);
}

#[tokio::test]
async fn the_demonstration_loader_fills_a_running_system_with_the_token_it_is_given() {
    let Some(database) = onestop_testkit::database().await else { return };
    let stack = Stack::start(database.url(), Addresses::any_free_port()).await.unwrap();
    let token_file = std::env::temp_dir().join(format!("onestop-demo-token-{}", std::process::id()));
    std::fs::write(&token_file, format!("{}\n", stack.keys().operator_token().expose())).unwrap();
    let loaded = Process::new(env!("CARGO_BIN_EXE_onestop-demo"))
        .env("CATALOGUE_URL", stack.catalogue_url())
        .env("INTAKE_URL", stack.intake_url())
        .env("ONESTOP_TOKEN_FILE", &token_file)
        .env("DEMO_DAYS", "3")
        .env("DATABASE_URL", database.url())
        .env_remove("ONESTOP_TOKEN")
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&token_file);
    let said = String::from_utf8_lossy(&loaded.stdout);
    assert!(loaded.status.success(), "{said}{}", String::from_utf8_lossy(&loaded.stderr));
    assert!(said.contains("loaded the demonstration province 46") && said.contains("center-days"), "{said}");
    let mut intake = stack.intake_client();
    let cells = intake
        .list_cells(onestop_proto::intake::v1::ListCellsRequest {
            center_codes: vec![onestop_generator::province::PROVINCIAL_CENTER.into()],
            from_day: "2025-01-01".into(),
            to_day: "2100-01-01".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cells;
    assert!(!cells.is_empty(), "the provincial center's days were pushed");
    // Without a token it says what to give.
    let refused = Process::new(env!("CARGO_BIN_EXE_onestop-demo"))
        .env("CATALOGUE_URL", stack.catalogue_url())
        .env_remove("ONESTOP_TOKEN")
        .env_remove("ONESTOP_TOKEN_FILE")
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ONESTOP_TOKEN"));
    stack.shutdown().await.unwrap();
    drop(database);
}

#[test]
fn the_operator_token_compose_issues_holds_every_operator_scope() {
    let compose = compose();
    let token = our_containers(&compose).into_iter().find(|c| c.name == "token").expect("a token container");
    let command = token.command();
    let scopes: BTreeSet<&str> = command.windows(2).filter(|pair| pair[0] == "--scope").map(|pair| pair[1]).collect();
    let operator: BTreeSet<&str> = onestop_server::auth::OPERATOR_SCOPES.into_iter().collect();
    assert_eq!(scopes, operator, "the operator of a compose deployment can do what a local run's operator can");
}
