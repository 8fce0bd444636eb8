//! What a typed line means: a message to the room or one of the slash commands.

/// One line of user input, interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send the text to the whole room.
    Say(String),
    /// `/msg NICK text`: a private message.
    Private {
        /// Nickname (or URI) of the recipient.
        to: String,
        /// The text.
        text: String,
    },
    /// `/nick NAME`: ask for another nickname.
    Nick(String),
    /// `/who`: show the roster.
    Who,
    /// `/help`.
    Help,
    /// `/quit` (also end of input).
    Quit,
    /// An empty line: nothing to do.
    Nothing,
    /// A slash command we cannot use, with the reason.
    Invalid(String),
}

/// The help text, one command per line.
pub const HELP: &[&str] = &[
    "text           send text to the room",
    "/msg NICK text private message to NICK",
    "/nick NAME     change nickname",
    "/who           who is in the room",
    "/quit          leave (also Ctrl-D)",
    "//text         send text starting with '/'",
];

/// Interprets one input line (without its line end).
pub fn parse(line: &str) -> Command {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Command::Nothing;
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Command::Say(line.to_string());
    };
    if rest.starts_with('/') {
        return Command::Say(rest.to_string());
    }
    let (name, args) = match rest.split_once(char::is_whitespace) {
        Some((n, a)) => (n, a.trim()),
        None => (rest, ""),
    };
    match name.to_ascii_lowercase().as_str() {
        "msg" | "m" | "query" => match args.split_once(char::is_whitespace) {
            Some((to, text)) if !text.trim().is_empty() => Command::Private {
                to: to.to_string(),
                text: text.trim_start().to_string(),
            },
            _ => Command::Invalid("usage: /msg NICK text".into()),
        },
        "nick" => {
            if args.is_empty() {
                Command::Invalid("usage: /nick NAME".into())
            } else {
                Command::Nick(args.to_string())
            }
        }
        "who" | "names" => Command::Who,
        "help" | "?" => Command::Help,
        "quit" | "exit" | "bye" | "q" => Command::Quit,
        _ => Command::Invalid(format!("unknown command /{name} (try /help)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_go_to_the_room() {
        assert_eq!(parse("hello there\r"), Command::Say("hello there".into()));
        assert_eq!(parse("  "), Command::Nothing);
        assert_eq!(
            parse("//not a command"),
            Command::Say("/not a command".into())
        );
    }

    #[test]
    fn commands_and_their_arguments() {
        assert_eq!(
            parse("/msg bob  hi  you"),
            Command::Private {
                to: "bob".into(),
                text: "hi  you".into()
            }
        );
        assert!(matches!(parse("/msg bob"), Command::Invalid(_)));
        assert!(matches!(parse("/msg bob   "), Command::Invalid(_)));
        assert_eq!(parse("/NICK  Zoë "), Command::Nick("Zoë".into()));
        assert!(matches!(parse("/nick"), Command::Invalid(_)));
        assert_eq!(parse("/who"), Command::Who);
        assert_eq!(parse("/quit"), Command::Quit);
        assert_eq!(parse("/help"), Command::Help);
        let Command::Invalid(why) = parse("/dance now") else {
            panic!()
        };
        assert!(why.contains("/dance"));
    }
}
