//! Subcommands whose arguments clap defines only when they are used.
//!
//! clap's derive builds every subcommand's arguments before it parses
//! anything: for `clef get` that is all 35 commands, their flags and their
//! nested subcommands, each allocated and then dropped, on every run.
//! [`Deferred`] wraps a subcommand's `Args` (or nested `Subcommand`) so that
//! clap only records the function that defines them ([`Command::defer`]) and
//! calls it when that subcommand is the one invoked or its help is shown.
//! Parsing, help and errors are unchanged: the definitions are the same,
//! only built later.

use clap::{ArgMatches, Args, Command, FromArgMatches, Subcommand};

/// `T`'s arguments (or subcommands), defined on first use.
#[derive(Debug)]
pub struct Deferred<T>(pub T);

impl<T: FromArgMatches> FromArgMatches for Deferred<T> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(m).map(Deferred)
    }

    fn from_arg_matches_mut(m: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(m).map(Deferred)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }

    fn update_from_arg_matches_mut(&mut self, m: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(m)
    }
}

/// Runs `define` on `cmd` keeping the texts the enclosing variant set: the
/// derive applies a variant's doc comment and `after_long_help` after its
/// type's own definitions, and a deferred definition runs after both, so the
/// type's doc comment would otherwise win.
fn keeping_texts(cmd: Command, define: fn(Command) -> Command) -> Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let after_help = cmd.get_after_help().cloned();
    let after_long_help = cmd.get_after_long_help().cloned();
    let mut cmd = define(cmd);
    // the variant's doc comment sets both (a one-paragraph comment resets
    // the long form), so both come back whenever it had one
    if let Some(t) = about {
        cmd = match long_about {
            Some(l) => cmd.about(t).long_about(l),
            None => cmd.about(t).long_about(None::<&'static str>),
        };
    }
    if let Some(t) = after_help {
        cmd = cmd.after_help(t);
    }
    if let Some(t) = after_long_help {
        cmd = cmd.after_long_help(t);
    }
    cmd
}

impl<T: Args> Args for Deferred<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }

    fn augment_args(cmd: Command) -> Command {
        cmd.defer(|c| keeping_texts(c, T::augment_args))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        cmd.defer(|c| keeping_texts(c, T::augment_args_for_update))
    }
}

impl<T: Subcommand> Subcommand for Deferred<T> {
    fn augment_subcommands(cmd: Command) -> Command {
        cmd.defer(|c| keeping_texts(c, T::augment_subcommands))
    }

    fn augment_subcommands_for_update(cmd: Command) -> Command {
        cmd.defer(|c| keeping_texts(c, T::augment_subcommands_for_update))
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand, deferred parts included, passes clap's own
    /// consistency checks (they build the whole tree).
    #[test]
    fn the_whole_command_line_is_consistent() {
        crate::Cli::command().debug_assert();
    }
}
