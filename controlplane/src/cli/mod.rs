//! `msrpctl`: the command-line client of msrpd's management API. Every API route is a
//! subcommand; output is a human table by default and the API's JSON with `--json`.
//!
//! Exit codes: 0 success, 1 the API answered an error, 2 usage error, 3 cannot connect to
//! msrpd, 4 unexpected answer.

pub mod client;
pub mod render;
pub mod top;

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use hyper::Method;
use serde_json::{json, Value};

use client::{CallError, Client, Endpoint};

/// Success.
pub const EXIT_OK: u8 = 0;
/// The API answered with an error (unknown room, bad input, wrong token, ...).
pub const EXIT_API: u8 = 1;
/// Bad command line.
pub const EXIT_USAGE: u8 = 2;
/// msrpd could not be reached.
pub const EXIT_CONNECT: u8 = 3;
/// The answer was not understood.
pub const EXIT_PROTOCOL: u8 = 4;

/// Manage a running msrpd (MSRP chat switch and relay).
#[derive(Parser, Debug)]
#[command(
    name = "msrpctl",
    version,
    about,
    after_help = "Exit codes: 0 ok, 1 API error, 2 usage, 3 cannot connect, 4 unexpected answer."
)]
pub struct Args {
    /// Management API address (host:port).
    #[arg(
        long,
        env = "MSRPCTL_ADDR",
        default_value = "127.0.0.1:2880",
        global = true
    )]
    pub addr: String,
    /// Management API Unix socket (instead of --addr).
    #[arg(long, env = "MSRPCTL_SOCKET", global = true)]
    pub socket: Option<PathBuf>,
    /// Bearer token (mgmt.token of the daemon).
    #[arg(long, env = "MSRPCTL_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 10, global = true)]
    pub timeout: u64,
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Version, uptime, backend, listeners, workers.
    Status,
    /// Per-worker counters: connections, sessions, frames, bytes, queues, drops, rings.
    Workers,
    /// Counters summed over the workers.
    Counters,
    /// The configuration in force (secrets redacted).
    Config,
    /// The Prometheus metrics text.
    Metrics,
    /// Re-read the configuration file; shows what was applied and what needs a restart.
    Reload,
    /// RFC 4976 relay.
    Relay {
        /// What to show.
        #[command(subcommand)]
        what: RelayCmd,
    },
    /// Chat rooms (RFC 7701).
    Rooms {
        /// What to do.
        #[command(subcommand)]
        what: RoomsCmd,
    },
    /// Participants of a room.
    Participants {
        /// What to do.
        #[command(subcommand)]
        what: ParticipantsCmd,
    },
    /// SIP registrar and outbound flows.
    Sip {
        /// What to show.
        #[command(subcommand)]
        what: SipCmd,
    },
    /// Live rates per worker (and per room), refreshed in the terminal.
    Top {
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many refreshes (0: until interrupted).
        #[arg(long, default_value_t = 0)]
        iterations: u64,
        /// One refresh (after one interval, for rates), without clearing the screen.
        #[arg(long)]
        once: bool,
    },
    /// Join a chat room from this terminal (SIP INVITE + MSRP), like `msrp-chat`; needs no
    /// management API.
    Chat {
        /// Room, nickname and SIP options.
        #[command(flatten)]
        opts: crate::chat::ChatOptions,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `relay` subcommands.
#[derive(Subcommand, Debug)]
pub enum RelayCmd {
    /// Live relay tokens (authenticated sessions).
    Sessions,
}

/// `rooms` subcommands.
#[derive(Subcommand, Debug)]
pub enum RoomsCmd {
    /// Every room with its member count.
    List,
    /// Create a room; policy as key=value pairs (values parsed as JSON when they are).
    Create {
        /// Room: its URI, or its user part (completed with the first SIP domain).
        name: String,
        /// Policy settings, e.g. `max_members=50 moderated=true`.
        settings: Vec<String>,
    },
    /// One room: policy, members, counters.
    Show {
        /// Room name.
        name: String,
    },
    /// Change a room's policy (key=value pairs).
    Set {
        /// Room name.
        name: String,
        /// Settings to change.
        #[arg(required = true)]
        settings: Vec<String>,
    },
    /// Delete a room (its members are disconnected).
    Delete {
        /// Room name.
        name: String,
    },
}

/// `participants` subcommands.
#[derive(Subcommand, Debug)]
pub enum ParticipantsCmd {
    /// Participants of a room.
    List {
        /// Room name.
        room: String,
    },
    /// One participant.
    Show {
        /// Room name.
        room: String,
        /// Participant (nickname or id as `list` shows it).
        id: String,
    },
    /// Remove a participant from a room.
    Kick {
        /// Room name.
        room: String,
        /// Participant.
        id: String,
    },
}

/// `sip` subcommands.
#[derive(Subcommand, Debug)]
pub enum SipCmd {
    /// Registered contacts.
    Registrations,
    /// SIP Outbound flows (RFC 5626).
    Flows,
}

/// Parses `key=value` settings into a JSON object.
pub fn settings(pairs: &[String]) -> Result<Value, String> {
    let mut m = serde_json::Map::new();
    for p in pairs {
        let Some((k, v)) = p.split_once('=') else {
            return Err(format!("\"{p}\" is not key=value"));
        };
        if k.is_empty() {
            return Err(format!("\"{p}\" has an empty key"));
        }
        let val = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        m.insert(k.to_string(), val);
    }
    Ok(Value::Object(m))
}

/// Percent-encodes a path segment.
fn seg(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@+".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// Runs the command line; returns the exit code.
pub fn main_with(args: Args) -> u8 {
    if let Cmd::Completions { shell } = args.command {
        let mut cmd = Args::command();
        clap_complete::generate(shell, &mut cmd, "msrpctl", &mut std::io::stdout());
        return EXIT_OK;
    }
    if let Cmd::Chat { opts } = args.command {
        return crate::chat::run_on_terminal("msrpctl chat", opts);
    }
    let client = Client {
        endpoint: match &args.socket {
            Some(p) => Endpoint::Unix(p.clone()),
            None => Endpoint::Tcp(args.addr.clone()),
        },
        token: args.token.clone().filter(|t| !t.is_empty()),
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("msrpctl: {e}");
            return EXIT_PROTOCOL;
        }
    };
    match rt.block_on(run(&client, &args)) {
        Ok(out) => {
            print!("{out}");
            EXIT_OK
        }
        Err(Failure::Usage(m)) => {
            eprintln!("msrpctl: {m}");
            EXIT_USAGE
        }
        Err(Failure::Call(e)) => {
            eprintln!("msrpctl: {e}");
            match e {
                CallError::Connect { .. } => EXIT_CONNECT,
                CallError::Api { .. } => EXIT_API,
                CallError::Protocol { .. } => EXIT_PROTOCOL,
            }
        }
    }
}

/// Why a command failed.
pub enum Failure {
    /// Bad arguments found after parsing.
    Usage(String),
    /// The call failed.
    Call(CallError),
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        Failure::Call(e)
    }
}

fn bad_answer(client: &Client, reason: String) -> Failure {
    Failure::Call(CallError::Protocol {
        endpoint: client.endpoint.to_string(),
        reason,
    })
}

async fn get(client: &Client, path: &str) -> Result<Value, Failure> {
    let a = client.call(Method::GET, path, None).await?;
    a.json().map_err(|e| bad_answer(client, e))
}

async fn send(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, Failure> {
    let a = client.call(method, path, body).await?;
    if a.body.is_empty() {
        return Ok(Value::Null);
    }
    a.json().map_err(|e| bad_answer(client, e))
}

/// Runs one command and returns what to print.
pub async fn run(client: &Client, args: &Args) -> Result<String, Failure> {
    let json_out = args.json;
    let show = |v: &Value, human: fn(&Value) -> String| -> String {
        if json_out {
            format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
        } else {
            human(v)
        }
    };
    Ok(match &args.command {
        Cmd::Status => show(&get(client, "/v1/status").await?, render::kv),
        Cmd::Workers => show(&get(client, "/v1/workers").await?, workers_table),
        Cmd::Counters => show(&get(client, "/v1/counters").await?, render::kv),
        Cmd::Config => show(&get(client, "/v1/config").await?, config_toml),
        Cmd::Metrics => {
            let a = client.call(Method::GET, "/metrics", None).await?;
            String::from_utf8_lossy(&a.body).into_owned()
        }
        Cmd::Reload => show(
            &send(client, Method::POST, "/v1/reload", None).await?,
            render::kv,
        ),
        Cmd::Relay {
            what: RelayCmd::Sessions,
        } => show(&get(client, "/v1/relay/sessions").await?, render::generic),
        Cmd::Rooms { what } => match what {
            RoomsCmd::List => show(&get(client, "/v1/rooms").await?, render::generic),
            RoomsCmd::Create { name, settings: s } => {
                let mut body = settings(s).map_err(Failure::Usage)?;
                body["room"] = json!(name);
                show(
                    &send(client, Method::POST, "/v1/rooms", Some(&body)).await?,
                    render::kv,
                )
            }
            RoomsCmd::Show { name } => show(
                &get(client, &format!("/v1/rooms/{}", seg(name))).await?,
                render::kv,
            ),
            RoomsCmd::Set { name, settings: s } => {
                let body = settings(s).map_err(Failure::Usage)?;
                show(
                    &send(
                        client,
                        Method::PATCH,
                        &format!("/v1/rooms/{}", seg(name)),
                        Some(&body),
                    )
                    .await?,
                    render::kv,
                )
            }
            RoomsCmd::Delete { name } => {
                let v = send(
                    client,
                    Method::DELETE,
                    &format!("/v1/rooms/{}", seg(name)),
                    None,
                )
                .await?;
                if json_out {
                    show(&v, render::kv)
                } else {
                    format!("room {name} deleted\n")
                }
            }
        },
        Cmd::Participants { what } => match what {
            ParticipantsCmd::List { room } => show(
                &get(client, &format!("/v1/rooms/{}/participants", seg(room))).await?,
                render::generic,
            ),
            ParticipantsCmd::Show { room, id } => show(
                &get(
                    client,
                    &format!("/v1/rooms/{}/participants/{}", seg(room), seg(id)),
                )
                .await?,
                render::kv,
            ),
            ParticipantsCmd::Kick { room, id } => {
                let v = send(
                    client,
                    Method::DELETE,
                    &format!("/v1/rooms/{}/participants/{}", seg(room), seg(id)),
                    None,
                )
                .await?;
                if json_out {
                    show(&v, render::kv)
                } else {
                    format!("{id} removed from {room}\n")
                }
            }
        },
        Cmd::Sip { what } => {
            let path = match what {
                SipCmd::Registrations => "/v1/sip/registrations",
                SipCmd::Flows => "/v1/sip/flows",
            };
            show(&get(client, path).await?, render::generic)
        }
        Cmd::Top {
            interval,
            iterations,
            once,
        } => {
            let n = if *once { 1 } else { *iterations };
            top::run(
                client,
                Duration::from_secs_f64(interval.clamp(0.05, 3600.0)),
                n,
                !*once && n == 0,
                json_out,
            )
            .await?
        }
        Cmd::Completions { .. } | Cmd::Chat { .. } => String::new(),
    })
}

fn workers_table(v: &Value) -> String {
    let empty = Vec::new();
    let list = v["workers"].as_array().unwrap_or(&empty);
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|w| {
            let drops: u64 = w["drops"]
                .as_object()
                .map(|m| m.values().filter_map(Value::as_u64).sum())
                .unwrap_or(0);
            vec![
                render::cell(&w["index"]),
                render::cell(&w["connections"]),
                render::cell(&w["relay_sessions"]),
                render::cell(&w["switch_sessions"]),
                render::cell(&w["frames_in"]),
                render::cell(&w["requests_forwarded"]),
                render::bytes(w["bytes_in"].as_f64().unwrap_or(0.0)),
                render::bytes(w["bytes_out"].as_f64().unwrap_or(0.0)),
                render::bytes(w["queue"]["bytes"].as_f64().unwrap_or(0.0)),
                render::cell(&w["pending_transactions"]),
                drops.to_string(),
                format!(
                    "{}/{}",
                    render::cell(&w["rings"]["control"]),
                    render::cell(&w["rings"]["peer_out"])
                ),
            ]
        })
        .collect();
    render::table(
        &[
            "WORKER",
            "CONNS",
            "RELAY",
            "ROOM",
            "FRAMES_IN",
            "FORWARDED",
            "BYTES_IN",
            "BYTES_OUT",
            "QUEUED",
            "PENDING",
            "DROPS",
            "RINGS",
        ],
        &rows,
    )
}

/// The configuration as TOML (nulls, i.e. unset options, left out).
fn config_toml(v: &Value) -> String {
    fn conv(v: &Value) -> Option<toml::Value> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => toml::Value::Boolean(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => toml::Value::Integer(i),
                None => toml::Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            Value::String(s) => toml::Value::String(s.clone()),
            Value::Array(a) => toml::Value::Array(a.iter().filter_map(conv).collect()),
            Value::Object(m) => toml::Value::Table(
                m.iter()
                    .filter_map(|(k, v)| conv(v).map(|x| (k.clone(), x)))
                    .collect(),
            ),
        })
    }
    conv(v)
        .and_then(|t| toml::to_string_pretty(&t).ok())
        .unwrap_or_else(|| render::kv(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_json_values_and_strings() {
        let v = settings(&[
            "max=5".into(),
            "open=true".into(),
            "topic=hello world".into(),
        ])
        .unwrap();
        assert_eq!(v, json!({"max": 5, "open": true, "topic": "hello world"}));
        assert!(settings(&["nokey".into()]).is_err());
        assert!(settings(&["=1".into()]).is_err());
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("room 1/x"), "room%201%2Fx");
        assert_eq!(seg("alice@example.com"), "alice@example.com");
    }

    #[test]
    fn command_line_is_consistent() {
        Args::command().debug_assert();
    }
}
